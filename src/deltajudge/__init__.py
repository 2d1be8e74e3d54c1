"""deltajudge: is the fine-tuned model better than the base, is it real, did anything regress.

Importing this package is cheap on purpose: the pytest plugin is loaded in every
session of every project that installs deltajudge.
"""

__version__ = "0.1.0"
