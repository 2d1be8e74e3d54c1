"""The bundled suite's custom checks, on top of the rubric graders."""
