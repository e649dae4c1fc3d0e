"""Evaluation of trained generators: toy distributions and images (on host).

One module per kind of metric:

* `gan_jax.evaluation.toy`: mode coverage on the ring and grid (Srivastava
  et al. 2017, Lin et al. 2018: modes captured, % high quality, reverse KL)
  and `jsd_1d`, JSD(p_data || p_g) for the 1D Gaussian of Goodfellow et al.
  2014 (Figure 1) with p_g a kernel density estimate.
* `gan_jax.evaluation.parzen`: the Parzen-window log-likelihood protocol of
  Goodfellow et al. 2014 (Table 1) for images with pixels in [0, 1].
* `gan_jax.evaluation.features`: the Fréchet distance (FID, Heusel et al.
  2017, with any feature extractor) and improved precision and recall
  (Kynkäänniemi et al. 2019).
* `gan_jax.evaluation.kernel`: `kernel_distance`, the kernel distance (KID,
  Bińkowski et al. 2018): the unbiased MMD² with the cubic polynomial
  kernel, mean and standard error over random subsets.
* `gan_jax.evaluation.stacked`: the Stacked MNIST mode count (Metz et al.
  2017): `mode_histogram` of per-channel class triples, `mode_coverage`
  (modes covered and KL from uniform).
* `gan_jax.evaluation.conditional`: metrics of class-conditional samples
  with their labels: class accuracy of the project's classifier, intra-FID
  (Miyato & Koyama 2018) and the Classification Accuracy Score (Ravuri &
  Vinyals 2019), each beside its real-data value.
* `gan_jax.evaluation.images`: `ImageEvaluator` / `image_metrics`, all of
  the image metrics (Parzen, FID, KID, precision/recall) for generator
  samples against a data set's held-out images (`load_real_images`), each
  beside its real-data value. Features
  come from a pluggable callable; the project's own is
  `gan_jax.feature_extractor` (this package imports no flax).

Every public name is re-exported here, e.g. `evaluation.evaluate_modes`.
"""

from gan_jax.evaluation.conditional import CAS_STEPS
from gan_jax.evaluation.conditional import class_counts
from gan_jax.evaluation.conditional import classification_accuracy_score
from gan_jax.evaluation.conditional import first_of_each_class
from gan_jax.evaluation.conditional import intra_frechet_distance
from gan_jax.evaluation.conditional import LabelledImages
from gan_jax.evaluation.conditional import load_labelled
from gan_jax.evaluation.conditional import per_class_accuracy
from gan_jax.evaluation.evaluators import conditional_labels
from gan_jax.evaluation.evaluators import ConditionalEvaluator
from gan_jax.evaluation.evaluators import is_conditional
from gan_jax.evaluation.features import feature_moments
from gan_jax.evaluation.features import frechet_distance
from gan_jax.evaluation.features import frechet_distance_from_moments
from gan_jax.evaluation.features import precision_recall
from gan_jax.evaluation.features import PRECISION_RECALL_K
from gan_jax.evaluation.features import RealManifold
from gan_jax.evaluation.images import FEATURE_METRICS
from gan_jax.evaluation.images import image_metrics
from gan_jax.evaluation.images import IMAGE_NUM_SAMPLES
from gan_jax.evaluation.images import ImageEvaluator
from gan_jax.evaluation.images import load_real_images
from gan_jax.evaluation.images import METRIC_KEYS as IMAGE_METRIC_KEYS
from gan_jax.evaluation.images import PARZEN_NUM_VALIDATION
from gan_jax.evaluation.images import RealImages
from gan_jax.evaluation.kernel import KID_NUM_SUBSETS
from gan_jax.evaluation.kernel import KID_SUBSET_SIZE
from gan_jax.evaluation.kernel import kernel_distance
from gan_jax.evaluation.parzen import DEFAULT_BATCH_SIZE
from gan_jax.evaluation.parzen import PARZEN_SIGMAS
from gan_jax.evaluation.parzen import parzen_evaluate
from gan_jax.evaluation.parzen import parzen_log_likelihood
from gan_jax.evaluation.stacked import mode_coverage
from gan_jax.evaluation.stacked import mode_histogram
from gan_jax.evaluation.stacked import STACKED_NUM_SAMPLES
from gan_jax.evaluation.toy import evaluate_modes
from gan_jax.evaluation.toy import HIGH_QUALITY_STDS
from gan_jax.evaluation.toy import jsd_1d
