"""The one `Evaluation` of a pytest session, kept in ``config.stash`` and made on first use,
so a session without rubric files never builds one."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from deltajudge.pytest_plugin import options

if TYPE_CHECKING:
    from deltajudge.pipeline import Evaluation

_KEY = pytest.StashKey["Evaluation"]()


def evaluation_for(config: pytest.Config) -> Evaluation:
    found = config.stash.get(_KEY, None)
    if found is None:
        from deltajudge.pipeline import Evaluation
        from deltajudge.settings import find_config_file, load_settings
        from deltajudge.settings_errors import alias_hint

        explicit = options.config_file(config)
        settings = load_settings(
            config.rootpath, config_file=explicit, overrides=options.overrides(config)
        )
        source = find_config_file(config.rootpath, explicit)
        # `deltajudge run` passes its default path option; plain pytest users type --dj-*.
        option = "--model" if config.getoption("dj_default_path") else "--dj-model"
        found = Evaluation(
            settings=settings,
            rootdir=config.rootpath,
            dry=bool(config.option.collectonly),
            alias_hint=lambda alias: alias_hint(alias, source, option),
            shard=options.shard(config),
        )
        config.stash[_KEY] = found
    return found


def existing_evaluation(config: pytest.Config) -> Evaluation | None:
    return config.stash.get(_KEY, None)
