"""The five conceptual questions of ps5-concepts: wording and options.

Which option is right, and why each other one is wrong, is grader material
(``bngrade.keys``): it is not part of the package students install.
:mod:`bnlib.checks.ps5` registers the questions; the notebook builder renders them.
"""

QUESTIONS = [
    ('ps5_q_learned', 'Which quantities of a batch-norm layer are learned by gradient descent?', {
        'a': 'the running mean and the running variance',
        'b': 'gamma and beta',
        'c': 'eps and momentum',
        'd': 'the mean and the variance of each mini-batch',
    }),
    ('ps5_q_running', 'Why does batch norm use running averages at inference?', {
        'a': 'they are more accurate than the statistics of any single batch',
        'b': 'computing a batch mean at inference would be too slow',
        'c': 'batch statistics cannot be differentiated at inference',
        'd': ('a prediction must not depend on the other examples in the batch, and a single '
              'example has no usable batch statistics (its variance is 0)'),
    }),
    ('ps5_q_regularises', 'Why does batch norm act as a regulariser?', {
        'a': ('each example is normalised with the statistics of a random mini-batch, so its '
              'output carries noise from the other examples during training'),
        'b': 'gamma and beta are penalised like weights under weight decay',
        'c': 'it reduces the number of parameters of the network',
        'd': 'it clips large activations',
    }),
    ('ps5_q_coupling', 'Why does dL/dx_i depend on every dL/dy_j of the batch in training mode?', {
        'a': 'because gamma is shared by all examples',
        'b': 'because the loss is averaged over the batch',
        'c': ('because the batch mean and variance are computed from all examples, so every '
              'x_i moves every y_j'),
        'd': 'it does not: dL/dx_i depends on dL/dy_i only',
    }),
    ('ps5_q_bias', 'Why is the bias of a linear layer right before batch norm redundant?', {
        'a': 'it is initialised to zero and stays there',
        'b': ('batch norm subtracts the batch mean, which removes any constant added before '
              'it; beta takes over the shift'),
        'c': 'gamma scales the bias away',
        'd': 'the bias is absorbed into the running variance',
    }),
]
