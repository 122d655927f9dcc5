"""The five conceptual questions of ps5-concepts: wording, options, and why each wrong
option is wrong (``None`` marks the right one). :mod:`bnlib.checks.ps5` registers
them; the notebook builder renders them, so notebook and checker cannot drift apart.
"""

QUESTIONS = [
    ("ps5_q_learned", "Which quantities of a batch-norm layer are learned by gradient descent?", {
        "a": ("the running mean and the running variance",
              "the running statistics are moving averages of batch statistics, updated by "
              "the forward pass in training mode, never by a gradient."),
        "b": ("gamma and beta", None),
        "c": ("eps and momentum",
              "eps and momentum are hyperparameters: you choose them, nothing learns them."),
        "d": ("the mean and the variance of each mini-batch",
              "the batch statistics are computed from each batch in the forward pass; they "
              "are not parameters."),
    }),
    ("ps5_q_running", "Why does batch norm use running averages at inference?", {
        "a": ("they are more accurate than the statistics of any single batch",
              "accuracy is not the reason: a prediction must not depend on the other examples "
              "in its batch, and one example has no usable batch statistics."),
        "b": ("computing a batch mean at inference would be too slow",
              "a mean costs about as much as the normalisation itself; the reason is that a "
              "prediction must depend on its own example only."),
        "c": ("batch statistics cannot be differentiated at inference",
              "nothing is differentiated at inference; the point is that a batch may hold one "
              "example, whose variance is 0, and predictions must not depend on the batch."),
        "d": ("a prediction must not depend on the other examples in the batch, and a single "
              "example has no usable batch statistics (its variance is 0)", None),
    }),
    ("ps5_q_regularises", "Why does batch norm act as a regulariser?", {
        "a": ("each example is normalised with the statistics of a random mini-batch, so its "
              "output carries noise from the other examples during training", None),
        "b": ("gamma and beta are penalised like weights under weight decay",
              "no penalty is involved: the noise of the mini-batch statistics does the "
              "regularising."),
        "c": ("it reduces the number of parameters of the network",
              "it adds parameters (gamma and beta); its regularising effect comes from the "
              "noisy batch statistics."),
        "d": ("it clips large activations",
              "nothing is clipped: activations are standardised with noisy batch statistics, "
              "and that noise regularises."),
    }),
    ("ps5_q_coupling", "Why does dL/dx_i depend on every dL/dy_j of the batch in training mode?", {
        "a": ("because gamma is shared by all examples",
              "a shared constant scale couples nothing: in eval mode gamma is shared too and "
              "dL/dx_i = gamma * dL/dy_i / sqrt(running_var + eps) alone."),
        "b": ("because the loss is averaged over the batch",
              "the coupling exists for any loss; it comes from mu and var, which every x_i "
              "moves."),
        "c": ("because the batch mean and variance are computed from all examples, so every "
              "x_i moves every y_j", None),
        "d": ("it does not: dL/dx_i depends on dL/dy_i only",
              "that is the eval-mode gradient; in training mode every x_i also reaches the loss "
              "through mu and var."),
    }),
    ("ps5_q_bias", "Why is the bias of a linear layer right before batch norm redundant?", {
        "a": ("it is initialised to zero and stays there",
              "it would move under gradient descent if it mattered; it does not matter because "
              "the mean subtraction removes any constant."),
        "b": ("batch norm subtracts the batch mean, which removes any constant added before it; "
              "beta takes over the shift", None),
        "c": ("gamma scales the bias away",
              "gamma multiplies after the normalisation; it is the mean subtraction that "
              "removes the bias."),
        "d": ("the bias is absorbed into the running variance",
              "a constant shifts the mean, not the variance: the batch mean removes it."),
    }),
]
