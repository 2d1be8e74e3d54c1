"""The bundled suite's pytest configuration.

Its presence at the repository root puts the root on ``sys.path`` (pytest's default
"prepend" import mode), so rubric files can name custom graders in ``evals/`` as
``function: evals.checks:<name>``. The deltajudge plugin itself is loaded through its
``pytest11`` entry point; nothing else is needed here.
"""
