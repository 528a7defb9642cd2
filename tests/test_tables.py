import json

import numpy as np
import pandas as pd
import pytest

from cnngwp.errors import CnngwpInputError
from cnngwp.models.names import shown_name
from cnngwp.models.stack import ModelStack
from cnngwp.reports.book import performance_page, teaching_page
from cnngwp.reports.tables import (
    bootstrap_mse_difference,
    collect_comparisons,
    paired_differences,
    run_counts,
    shown,
    table2,
)
from cnngwp.runs.summary import RunSummary


def _write_run(root, dataset, fold, observed, predictions, note="", candidates=0):
    folder = root / dataset / f"fold-{fold}"
    folder.mkdir(parents=True)
    rows = [{"model": name, "members": members, "split": f"fold-{fold}", "mse": float(np.mean((observed - pred) ** 2)),
             "correlation": 0.5, "slope": 1.0, "seconds": 1.0, "note": note if name.startswith("CNN") else ""}
            for name, members, pred in (("GBLUP", None, predictions["GBLUP"]), ("BLASSO", None, predictions["BLASSO"]),
                                        ("CNN (best single)", 1, predictions["prediction"]),
                                        ("CNN ensemble", 3, predictions["prediction"]))]
    pd.DataFrame(rows).to_csv(folder / "comparison.csv", index=False)
    pd.DataFrame({"observed": observed, **predictions}).to_csv(folder / "predictions.csv", index=False)
    (folder / "run.json").write_text(json.dumps({"profile": {"name": "smoke"}}))
    covariates = {"names": ["GENDER[M]", "Litter"]} if candidates else None
    RunSummary(data=dataset, split=f"fold-{fold}", protocol="honest", profile="smoke", seed=1, n_train=100,
               n_test=len(observed), n_candidates=candidates, covariates=covariates).write(folder)


def test_bootstrap_difference_of_a_model_with_itself_is_exactly_zero():
    rng = np.random.default_rng(0)
    y, p = rng.normal(size=50), rng.normal(size=50)
    assert bootstrap_mse_difference(y, p, p) == (0.0, 0.0, 0.0)
    diff, lower, upper = bootstrap_mse_difference(y, y, p)
    assert diff == pytest.approx(-np.mean((y - p) ** 2)) and lower < diff < upper < 0


def test_table2_and_paired_differences_over_folds(tmp_path):
    rng = np.random.default_rng(1)
    for fold in range(3):
        y = rng.normal(size=40)
        _write_run(tmp_path, "mice", fold, y, {"GBLUP": y + rng.normal(size=40), "BLASSO": y + rng.normal(size=40),
                                               "prediction": y + 0.5 * rng.normal(size=40)})
    y = rng.normal(size=30)
    _write_run(tmp_path, "sim", 0, y, {"GBLUP": y + 1.0, "BLASSO": y + 1.0, "prediction": y + 0.1},
               note="optimistic: tuned on the test set", candidates=7)
    counts = run_counts(tmp_path).set_index(["dataset", "fold"])
    assert counts.loc[("sim", 0)].tolist() == [100, 30, 7, "GENDER[M], Litter"]
    assert counts.loc[("mice", 2)].tolist() == [100, 40, 0, ""]
    comparisons = collect_comparisons(tmp_path)
    assert len(comparisons) == 16 and set(comparisons["model"]) == {"GBLUP", "BLASSO", "CNN (best single)",
                                                                     "CNN ensemble"}
    table = table2(comparisons)
    mice = table[table["dataset"] == "mice"].set_index("model")
    assert list(mice.index) == ["GBLUP", "BLASSO", "CNN (best single)", "CNN ensemble"]
    assert mice.loc["GBLUP", "folds"] == 3 and mice.loc["GBLUP", "profile"] == "smoke"
    assert mice.loc["CNN ensemble", "members"] == 3 and pd.isna(mice.loc["GBLUP", "members"])
    assert shown_name("CNN ensemble", mice.loc["CNN ensemble", "members"]) == "CNN ensemble (S=3)"
    assert shown_name("GBLUP", None) == "GBLUP"
    assert mice.loc["GBLUP", "mse"] == pytest.approx(
        comparisons.query("dataset == 'mice' and model == 'GBLUP'")["mse"].mean()
    )
    assert table[table["dataset"] == "sim"].set_index("model").loc["CNN ensemble", "note"].startswith("optimistic")
    differences = paired_differences(tmp_path).set_index(["dataset", "model"])
    assert differences.loc[("mice", "CNN ensemble"), "method"] == "t interval over 3 folds"
    sim = differences.loc[("sim", "CNN ensemble")]
    assert sim["method"] == "paired bootstrap over animals"
    assert sim["mse_difference"] == pytest.approx(0.01 - 1.0)  # constant errors: no spread
    assert sim["lower_95"] == pytest.approx(sim["upper_95"])


def test_no_runs_gives_empty_tables(tmp_path):
    assert collect_comparisons(tmp_path).empty
    assert run_counts(tmp_path).empty
    assert paired_differences(tmp_path).empty


def test_shown_tables_leave_out_the_index_and_empty_columns():
    table = pd.DataFrame({"model": ["GBLUP", "CNN"], "mse": [83.18755, 80.05264], "note": ["", ""],
                          "sd": [np.nan, np.nan]}, index=[7, 8])
    html = shown(table, precision=2).to_html()
    assert "83.19" in html and "80.05" in html and "note" not in html and ">sd<" not in html
    assert ">7<" not in html and ">8<" not in html  # no index column


def test_the_performance_page_renders_every_benchmark_record_and_says_when_there_is_none(tmp_path):
    assert "No benchmark records are committed yet" in performance_page(tmp_path / "absent")
    record = {"name": "startup", "figures": {"cnngwp --help (s)": 0.05, "engine": "numba"},
              "last_line": "help_seconds=0.05", "command": "python benchmarks/bench_startup.py",
              "commit": "abc1234", "date": "2026-12-03 06:28 UTC", "machine": "2 cores, AMD EPYC, Python 3.11.7"}
    (tmp_path / "startup.json").write_text(json.dumps(record))
    page = performance_page(tmp_path)
    assert "## startup" in page and "| `cnngwp --help (s)` | 0.05 |" in page and "| `engine` | numba |" in page
    assert "commit `abc1234` on 2026-12-03 06:28 UTC, 2 cores, AMD EPYC" in page
    assert "`python benchmarks/bench_startup.py`" in page and "Last line: `help_seconds=0.05`" in page
    (tmp_path / "broken.json").write_text(json.dumps({"name": "broken", "figures": {}}))
    with pytest.raises(CnngwpInputError, match=r"broken.json: missing \['last_line', 'command', 'commit'"):
        performance_page(tmp_path)


def test_the_teaching_page_computes_with_the_records_values_not_its_sentences(tmp_path):
    values = {"seconds": {"smoke": {"01_simulate_data": 12}, "quick": {"01_simulate_data": 20}},
              "study_seconds": 30, "minutes": {"smoke": 2.0, "quick": 40.0}}
    record = {"name": "chapters", "figures": {"prose only": 1}, "last_line": "not read", "command": "c",
              "commit": "abc1234", "date": "today", "machine": "m", "values": values}
    (tmp_path / "chapters.json").write_text(json.dumps(record))
    page = teaching_page(tmp_path / "chapters.json")
    assert "| `smoke` (s) | `quick` (s) |" in page and "| 12 | 20 |" in page and "30 (grid `smoke`)" in page
    assert "`smoke` 2.0 min, `quick` 40.0 min" in page and "fits the `smoke` profile" in page


def test_a_run_summary_reads_back_what_it_wrote_and_names_the_file_it_cannot_read(tmp_path):
    stack = ModelStack({"GBLUP": 0.25, "CNN ensemble": 0.75}, 40, "the youngest training generation (4)")
    summary = RunSummary(data="sim", split="generation-5", protocol="honest", profile="smoke", seed=3, n_train=100,
                         n_test=40, gamma_ma={"filters": 8}, stack=stack, members=[{"member": 0}])
    summary.write(tmp_path)
    assert RunSummary.read(tmp_path) == summary and summary.stack_sentence() == stack.sentence()
    (tmp_path / "summary.json").write_text(json.dumps({"data": "sim", "split": "fold-0", "n_test": 3}))
    with pytest.raises(CnngwpInputError, match=r"summary.json: missing \['n_train', 'profile', 'protocol', 'seed'\]"):
        RunSummary.read(tmp_path)
    (tmp_path / "summary.json").write_text("[1, 2]")
    with pytest.raises(CnngwpInputError, match="summary.json: expected a JSON object"):
        RunSummary.read(tmp_path)
    with pytest.raises(CnngwpInputError, match="cannot read a run's summary"):
        RunSummary.read(tmp_path / "nowhere")
