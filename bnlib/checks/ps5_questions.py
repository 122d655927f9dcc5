"""The five conceptual questions of ps5-concepts: wording, options, and why each wrong
option is wrong (``None`` marks the right one). :mod:`bnlib.checks.ps5` registers
them; the notebook builder renders them, so notebook and checker cannot drift apart.

Graded questions test the chapters' objectives without repeating anything the
published book answers (its self-check questions, practice problems and worked
examples): ``tests/test_site_content.py`` checks that none of them reaches the site.
"""

QUESTIONS = [
    ("ps5_q_output_stats",
     "After training, one feature of a batch-norm layer has gamma = -3 and beta = 0.5. In "
     "training mode, with eps negligible, what are the mean and the variance of that "
     "feature's outputs over any mini-batch (of at least two distinct values)?", {
         "a": ("mean 0.5 and variance 9", None),
         "b": ("mean 0.5 and variance -3",
               "a variance cannot be negative: the output gamma * x_hat + beta has variance "
               "gamma**2 times that of x_hat, which is 1."),
         "c": ("mean 0.5 and variance 3",
               "3 = |gamma| is the standard deviation of the outputs; the variance is "
               "gamma**2 = 9."),
         "d": ("mean 0 and variance 1, whatever gamma and beta are",
               "that describes x_hat, before the scale and the shift; the outputs have mean "
               "beta and variance gamma**2."),
     }),
    ("ps5_q_eval_batch",
     "A trained network with batch norm is in eval mode. You feed it one example alone, then "
     "the same example inside a batch of 63 others. How do its two outputs compare?", {
         "a": ("they differ, because the batch mean and variance differ between the two calls",
               "in eval mode the layer does not compute batch statistics: it uses the stored "
               "running averages, so each example's output depends on that example only."),
         "b": ("the call with one example fails, because a single value has no variance",
               "that is training mode; in eval mode a batch of one is fine because the "
               "running statistics are used."),
         "c": ("they are identical: eval mode normalises with the running statistics, a fixed "
               "affine map of each example", None),
         "d": ("the single example gets beta for every feature, the other call does not",
               "beta for every feature is what training-mode normalisation of a batch of one "
               "would give (x_hat = 0); eval mode uses the running statistics instead."),
     }),
    ("ps5_q_noise",
     "In training mode, the output for one example depends on which other examples share its "
     "mini-batch. Which change makes that dependence (the noise batch norm adds) larger?", {
         "a": ("a larger momentum for the running averages",
               "the running averages are not used in training mode; the noise comes from the "
               "batch mean and variance, whose spread depends on the batch size."),
         "b": ("a smaller mini-batch", None),
         "c": ("a larger learning rate",
               "the learning rate changes the weights, not how much the batch statistics of a "
               "given layer vary between batches; a smaller batch does."),
         "d": ("switching the layer to eval mode during training",
               "eval mode removes the dependence entirely (running statistics are fixed); "
               "batch statistics of fewer examples make it larger."),
     }),
    ("ps5_q_uniform_grad",
     "In training mode, the layers above a batch-norm layer send back the same upstream "
     "gradient dL/dy_i = c for every example i of one feature (c is not 0). What is dL/dx_i "
     "for that feature?", {
         "a": ("gamma * c / sqrt(var + eps) for every i, as for a per-feature scale",
               "that ignores the path through the batch mean: adding the same amount to every "
               "x_i leaves x_hat unchanged, so this part of the gradient cancels."),
         "b": ("m * c for every i, because the batch mean collects the whole batch",
               "the mean's path does not add up the batch; it removes the component of "
               "dL/dy that is the same for every example."),
         "c": ("c for every i: batch norm passes a uniform gradient through unchanged",
               "batch norm is not the identity; a uniform dL/dy is exactly the direction it "
               "removes (dL/dx is orthogonal to the vector of ones)."),
         "d": ("0 for every i", None),
     }),
    ("ps5_q_bias_grad",
     "A linear layer z = x @ W.T + b feeds a batch-norm layer in training mode. Whatever the "
     "loss, what is dL/db?", {
         "a": ("the sum over the batch of dL/dz, as for any linear layer, usually not zero",
               "that sum is zero here: dL/dz is the input gradient of batch norm, which sums "
               "to zero over the batch because b shifts every z_i of a feature by the same "
               "amount and the batch mean removes it."),
         "b": ("exactly zero",
               None),
         "c": ("gamma times the sum over the batch of dL/dy",
               "that is dL/dbeta scaled by gamma; b comes before the normalisation, whose "
               "mean subtraction removes it, so dL/db = 0."),
         "d": ("it depends on the running mean",
               "the running mean is not used in training mode; the batch mean removes b "
               "exactly, so dL/db = 0."),
     }),
]
