"""The CNNGWP network: its layers, the estimator, its training loops and the fused CPU engine.

Importing this subpackage imports Keras, quietly (:func:`cnngwp.startup.import_keras_quietly`): every module that
needs the framework lives here or imports from here, so ``import cnngwp`` and the kernel models load none.
"""

from cnngwp.startup import import_keras_quietly

import_keras_quietly()
