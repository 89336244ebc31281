"""The study report: tables, figures and findings from what eval and training wrote.

Reads, for each phase named in params.yaml (in that order; a removed phase disappears) and each RL
seed S of `rl_seeds` (likewise):

    reports/metrics/PHASE/seedS.json                    per-seed numbers per algorithm (eval@PHASE-S)
    data/eval/PHASE/seedS/answers.jsonl                 every answer with its RM / gold score (eval@PHASE-S)
    reports/live/PHASE/seedS/ALGO/plots/metrics/train/*.tsv  training curves (ppo/grpo/dpo@PHASE-S)
    reports/live/PHASE/seedS/grpo/groups.jsonl          per-group reward std (optional second view)
    reports/configs/PHASE/{ppo,grpo,dpo}.json           each phase's effective settings (figure labels)
    reports/live/{sft,rm}/metrics.json                  optional: SFT and reward-model metrics

A phase pools its seeds: its answers carry a `seed` column, its headline numbers are means over seeds
with hierarchical-bootstrap intervals (seeds, then prompts; at least the t interval of the seed
means), and each seed's numbers stay beside them.

and writes reports/report.md, reports/figures/*.png, reports/tables/*.md + *.csv and reports/plots/*.csv
(grouped training curves for `dvc plots`).

The shape, one module per step, each importing only the ones before it:

    common      labels, colours, default knobs, number formatting
    load        `load_study` -> a `Study` of `Phase`s
    tables      the numbers (pandas): averages, deltas, did it train, against SFT, rankings
    findings    the over-optimisation test and its false-positive rate; the headline sentences
    markdown    one `*_markdown` function per table
    figures     figure machinery (`_figure`, `_save`, `Drawn`) and the score figures
    figures_rl  the training figures: DPO, GRPO collapse, over-optimisation
    dvcplots    one long-format CSV per training quantity for `dvc plots` (all algorithms, phases, seeds)
    write       `write_report`, `summary.json` and the headline metrics files

Every number in the prose is computed here, never typed in, and the output is byte-identical for
identical inputs (seeded bootstrap, fixed figure metadata). This package re-exports the names that
stages/, rlhf_core/frontier.py, bench/ and the tests use; a module-level setting such as
`OVER_FPR_SHUFFLES` is read in its own module (`findings`), so patch it there.
"""

from rlhf_core.params import ReportParams

from .common import LABEL
from .figures import RC, Drawn, _figure, _mpl, _save, fig_averages, fig_ranking, fig_rm_vs_gold
from .figures_rl import fig_dpo, fig_grpo, fig_overoptimisation
from .findings import (
    OVER_BINS,
    _overopt_nbins,
    _overopt_rows,
    _pval,
    _shuffled_order,
    headline,
    overoptimisation,
    overoptimisation_bins,
    overoptimisation_findings,
    overoptimisation_fpr,
    overoptimisation_sentence,
)
from .load import OPTIONAL_LOGS, REQUIRED_LOGS, RM_LOG, Phase, Study, load_study, read_log
from .markdown import averages_markdown, md_escape, vs_sft_markdown
from .tables import (
    Delta,
    _share,
    _vk,
    collapsed_share,
    deltas,
    phase_delta,
    tied_ranking,
    trained_table,
    vs_sft_table,
    within_prompt_spearman,
)
from .write import Written, _anchor, write_report

__all__ = [
    "LABEL",
    "OPTIONAL_LOGS",
    "OVER_BINS",
    "RC",
    "REQUIRED_LOGS",
    "RM_LOG",
    "Delta",
    "Drawn",
    "Phase",
    "ReportParams",
    "Study",
    "Written",
    "averages_markdown",
    "collapsed_share",
    "deltas",
    "fig_averages",
    "fig_dpo",
    "fig_grpo",
    "fig_overoptimisation",
    "fig_ranking",
    "fig_rm_vs_gold",
    "headline",
    "load_study",
    "md_escape",
    "overoptimisation",
    "overoptimisation_bins",
    "overoptimisation_findings",
    "overoptimisation_fpr",
    "overoptimisation_sentence",
    "phase_delta",
    "read_log",
    "tied_ranking",
    "trained_table",
    "vs_sft_markdown",
    "vs_sft_table",
    "within_prompt_spearman",
    "write_report",
    # private helpers that the tests, bench/overopt.py and rlhf_core/frontier.py use
    "_anchor",
    "_figure",
    "_mpl",
    "_overopt_nbins",
    "_overopt_rows",
    "_pval",
    "_save",
    "_share",
    "_shuffled_order",
    "_vk",
]
