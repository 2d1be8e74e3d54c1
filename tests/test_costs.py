"""Money on screen and a spending cap: prices from the table or the alias, spend per alias
in report.json and the terminal, and a run that stops starting cases at ``max_cost``."""

from __future__ import annotations

from conftest import Project, judge_json
from deltajudge.generation.pricing import Price, price_for
from deltajudge.settings import ModelConfig, PriceConfig, Settings
from deltajudge.testing import Rule


def test_list_prices_cover_snapshots_and_fine_tunes() -> None:
    settings = Settings()
    snapshot = ModelConfig(model="gpt-4.1-mini-2025-04-14")
    tuned = ModelConfig(model="ft:gpt-4.1-mini-2025-04-14:acme::abc123")
    assert price_for(snapshot, settings) == Price(0.40, 1.60)
    assert price_for(tuned, settings) == Price(0.80, 3.20)  # fine-tunes cost more to run
    assert price_for(ModelConfig(model="my-own-model"), settings) is None  # unknown, not $0
    assert price_for(ModelConfig(model="x", provider="local"), settings) == Price(0, 0)


def test_the_alias_and_the_config_table_override_the_list() -> None:
    settings = Settings(prices={"my-own-model": PriceConfig(input=1, output=2)})
    assert price_for(ModelConfig(model="my-own-model"), settings) == Price(1, 2)
    own = ModelConfig(model="gpt-4.1", price=PriceConfig(input=0.5, output=0.5))
    assert price_for(own, settings) == Price(0.5, 0.5)
    assert Price(2, 8).of(1_000_000, 500_000) == 6.0


def _priced(project: Project, rows: int, extra: str = "") -> None:
    project.server.set_rules([Rule(judge=True, reply=judge_json(2))])
    prices = "[prices]\n" + "".join(  # $0.001 a token: easy sums
        f"{model} = {{ input = 1000.0, output = 1000.0 }}\n" for model in ("base-m", "cand-m")
    )
    project.write(
        rows=[{"id": f"q{i}", "input": f"question {i}"} for i in range(rows)],
        config_extra=extra + "\n" + prices,
    )


def test_spend_per_alias_is_in_the_report_and_on_screen(project: Project) -> None:
    _priced(project, rows=3)

    result = project.run()

    assert result.ret == 0
    models = project.report()["models"]
    for alias in ("base", "cand"):
        tokens = models[alias]["tokens"]
        expected = (tokens["prompt_tokens"] + tokens["completion_tokens"]) * 0.001
        assert abs(tokens["cost_usd"] - expected) < 1e-9 and tokens["cost_usd"] > 0
    assert models["judge"]["tokens"]["cost_usd"] is None  # judge-m has no known price
    text = result.stdout.str()
    assert "price unknown" in text and "spent: $" in text

    again = project.run()  # all from the cache: nothing paid
    assert again.ret == 0
    assert project.report()["models"]["base"]["tokens"]["cost_usd"] == 0


def test_the_spending_cap_stops_starting_cases(project: Project) -> None:
    _priced(project, rows=200, extra="concurrency = 2")

    result = project.run("--dj-max-cost", "0.05")

    assert result.ret != 0
    report = project.report()
    assert report["notes"][0].startswith("INCOMPLETE: interrupted by the spending cap")
    ran = len(report["rubrics"][0]["cases"])
    assert 0 < ran < 60, ran
    spent = sum(m["tokens"]["cost_usd"] or 0 for m in report["models"].values())
    assert spent >= 0.05
