"""The quiz on chapters 6 and 7 that closes ps6-in-practice: wording and options.

Which option is right, and why each other one is wrong, is grader material
(``bngrade.worker.keys``), as for ps5's questions (:mod:`bnlib.checks.ps5_questions`):
it is not part of the package students install. :mod:`bnlib.checks.ps6_quiz`
registers the questions; the notebook builder renders them.

The questions apply the chapters to cases the published book does not work
out; ``tests/test_site_content.py`` checks that none of them, and no right
option or explanation, reaches the site.
"""

QUESTIONS = [
    ("ps6_q_spatial_count",
     "A spatial batch norm follows a convolution with 32 output channels. In training mode it "
     "receives a batch of 16 feature maps of 14 x 14 per channel. How many values does each of "
     "its means average, and how many gamma parameters does the layer learn?", {
         "a": "16 values per mean (one per example), and 32 * 14 * 14 = 6,272 gammas",
         "b": "16 * 14 * 14 = 3,136 values per mean, and 32 gammas",
         "c": "32 * 14 * 14 = 6,272 values per mean (one mean per example), and 32 gammas",
         "d": "14 * 14 = 196 values per mean (one per example and channel), and 16 * 32 gammas",
     }),
    ("ps6_q_warmup",
     "A batch norm in Keras's convention keeps its running mean with momentum 0.999 (the "
     "weight kept on the old average), starting at 0. Every training batch has the same mean "
     "5 for one feature. After 100 steps, about what is that feature's running mean?", {
         "a": "about 5: a hundred batches are plenty for an average to settle",
         "b": "about 0.005: each step moves it by one thousandth of the batch mean only once",
         "c": "about 0.48: it has covered 1 - 0.999**100 (under 10 %) of the way from 0 to 5",
         "d": "about 4.5: it has covered 0.9 of the way, as after 100 steps of any momentum",
     }),
    ("ps6_q_padding",
     "Two token sequences, of lengths 10 and 2, are padded with zeros to length 10 and fed to "
     "a batch norm that normalises each feature over (batch, time) in training mode. For one "
     "feature, how does the batch mean it uses compare with the mean over the 12 real tokens?", {
         "a": "it is the same: padded zeros add nothing to a sum",
         "b": "it is the mean over the 2 real tokens of the short sequence only",
         "c": "it is the real tokens' mean times 20 / 12",
         "d": "it is the real tokens' mean times 12 / 20: the 8 padded zeros count as values",
     }),
    ("ps6_q_sync",
     "A network is trained data-parallel on 8 GPUs, each GPU taking 4 images of every batch "
     "of 32. Over how many images does a plain BatchNorm2d compute its statistics in training "
     "mode, and over how many after nn.SyncBatchNorm.convert_sync_batchnorm?", {
         "a": "4 with plain batch norm (each GPU its own), 32 after the conversion",
         "b": "32 in both cases: the framework gathers the batch before normalising",
         "c": "4 in both cases: the conversion only synchronises the running statistics",
         "d": "32 with plain batch norm, 4 after the conversion",
     }),
]
