"""Scoring answers: the rubric schema, judge prompts, parsing, and graders."""
