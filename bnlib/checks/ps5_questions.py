"""The five conceptual questions of ps5-concepts: wording and options.

Which option is right, and why each other one is wrong, is grader material
(``bngrade.worker.keys``): it is not part of the package students install.
:mod:`bnlib.checks.ps5` registers the questions; the notebook builder renders them.

Graded questions test the chapters' objectives without repeating anything the
published book answers (its self-check questions, practice problems and worked
examples): ``tests/test_site_content.py`` checks that none of them reaches the site.
"""

QUESTIONS = [
    ("ps5_q_output_stats",
     "After training, one feature of a batch-norm layer has gamma = -3 and beta = 0.5. In "
     "training mode, with eps negligible, what are the mean and the variance of that "
     "feature's outputs over any mini-batch (of at least two distinct values)?", {
         "a": "mean 0.5 and variance 9",
         "b": "mean 0.5 and variance -3",
         "c": "mean 0.5 and variance 3",
         "d": "mean 0 and variance 1, whatever gamma and beta are",
     }),
    ("ps5_q_eval_batch",
     "A trained network with batch norm is in eval mode. You feed it one example alone, then "
     "the same example inside a batch of 63 others. How do its two outputs compare?", {
         "a": "they differ, because the batch mean and variance differ between the two calls",
         "b": "the call with one example fails, because a single value has no variance",
         "c": ("they are identical: eval mode normalises with the running statistics, a fixed "
               "affine map of each example"),
         "d": "the single example gets beta for every feature, the other call does not",
     }),
    ("ps5_q_noise",
     "In training mode, the output for one example depends on which other examples share its "
     "mini-batch. Which change makes that dependence (the noise batch norm adds) larger?", {
         "a": "a larger momentum for the running averages",
         "b": "a smaller mini-batch",
         "c": "a larger learning rate",
         "d": "switching the layer to eval mode during training",
     }),
    ("ps5_q_uniform_grad",
     "In training mode, the layers above a batch-norm layer send back the same upstream "
     "gradient dL/dy_i = c for every example i of one feature (c is not 0). What is dL/dx_i "
     "for that feature?", {
         "a": "gamma * c / sqrt(var + eps) for every i, as for a per-feature scale",
         "b": "m * c for every i, because the batch mean collects the whole batch",
         "c": "c for every i: batch norm passes a uniform gradient through unchanged",
         "d": "0 for every i",
     }),
    ("ps5_q_bias_grad",
     "A linear layer z = x @ W.T + b feeds a batch-norm layer in training mode. Whatever the "
     "loss, what is dL/db?", {
         "a": "the sum over the batch of dL/dz, as for any linear layer, usually not zero",
         "b": "exactly zero",
         "c": "gamma times the sum over the batch of dL/dy",
         "d": "it depends on the running mean",
     }),
]
