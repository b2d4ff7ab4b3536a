"""playbook-backtest command line.

A thin click group: it parses and validates options, hands off to `backtests/` and `data/`, and
prints. Errors a user can cause (our DataError, ConfigError, RunError and click's own usage errors)
become one line on stderr and exit code 2; a bug still shows its traceback.
"""

from __future__ import annotations

import contextlib
import sys
import warnings
from pathlib import Path

import click
import pandas as pd

from backtests import cboe_twins
from backtests.errors import RunError
from backtests.regime_eval import (
    DEFAULT_MODEL,
    MODELS,
    REFERENCE_MODELS,
    WINDOWS,
    evaluate,
    format_scorecard,
    format_session,
    plot_reliability,
    scorecard_json,
    session_report,
)
from backtests.tuning_terms import DEFAULT_MIN_TRAIN_YEARS, OBJECTIVES, SAMPLERS
from data import SOURCES
from data.errors import DataError
from data.frames import to_date
from data.universe import canonical_symbol
from data.windows import DEFAULT_AFTER, DEFAULT_BEFORE, WINDOW_KINDS, nyse_windows, windows_frame
from data.yahoo import CacheFallbackWarning
from strategies.config import load_config, merge_settings
from strategies.errors import ConfigError
from strategies.registry import STRATEGIES
from strategies.roles import parse_map
from strategies.rulespec import (
    parse_max_weight,
    parse_percent,
    parse_portfolio_stop,
    parse_size,
    parse_stop,
    parse_take_profit,
    parse_tranches,
)
from strategies.volsurface import METHODS as VOL_METHODS
from strategies.volsurface import VRP_RATIO

USER_ERRORS = (DataError, ConfigError, RunError)


class PlaybookGroup(click.Group):
    """A click group that turns our user errors into one line and exit code 2."""

    def invoke(self, ctx):
        try:
            with _one_line_fallbacks():
                return super().invoke(ctx)
        except USER_ERRORS as exc:
            click.echo(f"error: {exc}", err=True)
            ctx.exit(2)
        except click.UsageError as exc:
            # click's own usage block is four lines; the culprit fits in one
            click.echo(f"error: {exc.format_message()}", err=True)
            ctx.exit(2)


@contextlib.contextmanager
def _one_line_fallbacks():
    """Show each cache fallback of the yahoo source (data.yahoo.CacheFallbackWarning) as one
    `warning:` line, in order, instead of Python's two-line warning with its source line."""
    original = warnings.showwarning

    def show(message, category, filename, lineno, file=None, line=None):
        if issubclass(category, CacheFallbackWarning):
            click.echo(f"warning: {str(message).splitlines()[0]}", err=True)
        else:
            original(message, category, filename, lineno, file, line)

    warnings.showwarning = show
    try:
        yield
    finally:
        warnings.showwarning = original


@click.group(cls=PlaybookGroup)
def main():
    """Backtest the year-end / triple-witching playbook: momentum, neutral, defensive."""


class DateParam(click.ParamType):
    """A calendar date given as YYYY-MM-DD, returned as a tz-naive midnight pd.Timestamp."""

    name = "date"

    def convert(self, value, param, ctx):
        if isinstance(value, pd.Timestamp):
            return value
        try:
            return to_date(value)  # data's one date parser: ISO only, so 01/12/2018 and "now" fail
        except DataError:
            self.fail(f"{value!r} is not a date; use YYYY-MM-DD, e.g. 2018-12-21.", param, ctx)


CASH_RATE_OPTION = click.option(
    "--cash-rate", type=click.FloatRange(-0.05, 0.25), default=None,
    help="Annual T-bill rate as a fraction (0.02 = 2%) standing in where no rate is published "
         "(embedded: after 2018-11-30); named in the output and run.json. Without it a playbook run "
         "past the last published rate is refused. Default span of a playbook run: 1999-01-04 to "
         "2018-11-30 (to 2018-12-31 with --cash-rate); the benchmark alone: 1990-01-02 to 2022-12-28.")


def _role_map(ctx, param, value):
    """--map ROLE=SYMBOL (repeated) as {role: symbol}, or None when not given (strategies.roles)."""
    if not value:
        return None
    try:
        return parse_map(value)
    except ConfigError as exc:
        raise click.BadParameter(str(exc).removeprefix("--map ")) from None


MAP_OPTION = click.option(
    "--map", "universe", multiple=True, callback=_role_map, metavar="ROLE=SYMBOL",
    help="Use SYMBOL's data for a playbook role (repeatable): index, tech, semis, energy, staples, "
         "financials, cash, volatility, rates; e.g. --map tech=XLK loads XLK.csv where the playbook "
         "trades QQQ. Adds to a config file's universe: block role by role.")
OVERWRITE_OPTION = click.option(
    "--overwrite", is_flag=True, default=None,
    help="Replace what --out holds (the old files are removed only once the new ones are complete).")


def market_data_options(command):
    """The data options of the commands that run strategies (backtest, compare), declared once."""
    options = [
        click.option("--source", type=click.Choice(["embedded", "yahoo", "csv"]), default=None,
                     help="Market data source [default: embedded]."),
        click.option("--data-dir", type=click.Path(file_okay=False),
                     help="Directory of CSV files (--source csv)."),
        click.option("--cache-dir", type=click.Path(file_okay=False), help="Yahoo cache directory."),
        click.option("--start", type=DateParam(), help="First session, YYYY-MM-DD."),
        click.option("--end", type=DateParam(), help="Last session, YYYY-MM-DD."),
        CASH_RATE_OPTION,
        MAP_OPTION,
    ]
    for option in reversed(options):  # click lists options in the order the decorators are written
        command = option(command)
    return command


# --- backtest command ---


def _checked(parse):
    """A click callback that runs one of our rule parsers and reports its error against the option."""

    def callback(ctx, param, value):
        if value is None or value == ():
            return value
        try:
            for item in value if isinstance(value, tuple) else (value,):
                parse(item)
        except ConfigError as exc:
            raise click.BadParameter(str(exc)) from None
        return value

    return callback


@main.command()
@click.option("--strategy", help="momentum | neutral | defensive | playbook | benchmark "
              "(see `cli.py strategies`); required here or as `strategy:` in --config.")
@click.option("--config", "config_path", type=click.Path(dir_okay=False),
              help="YAML or TOML file with any of these settings (command-line options win), or a saved "
              "run.json to rerun that run.")
@market_data_options
@click.option("--window", type=click.Choice(["full", "triple-witching", "year-end", "santa-claus",
                                             "monthly-expiry"]), default=None,
              help="Trade only inside these windows (cash outside) [default: full].")
@click.option("--before", type=click.IntRange(0, 60), help="Sessions before each event [default: 5].")
@click.option("--after", type=click.IntRange(0, 60), help="Sessions after each event [default: 5].")
@click.option("--model", type=click.Choice(MODELS + REFERENCE_MODELS), default=None,
              help=f"Regime classifier the playbook trades on [default: {DEFAULT_MODEL}, the best out of "
              "sample by `regime evaluate`]; prior: always range (the neutral book); rules-as-written: "
              "the column's hand-set weights (the old default), for comparison.")
@click.option("--stop", multiple=True, callback=_checked(parse_stop),
              help="fixed:3% | trailing:5% | atr:3 | time:10 | none; repeat for several.")
@click.option("--take-profit", callback=_checked(parse_take_profit), help="8% | atr:2 | none.")
@click.option("--portfolio-stop", callback=_checked(parse_portfolio_stop),
              help="Flatten at this drawdown from the peak, e.g. 15% or 15%,cooldown:10.")
@click.option("--size", callback=_checked(parse_size), help="fixed:100% | vol-target:10%.")
@click.option("--max-weight", callback=_checked(parse_max_weight), help="Cap per instrument, e.g. 50%.")
@click.option("--tranches", callback=_checked(parse_tranches), help="Scale in and out in N steps.")
@click.option("--slippage-bp", type=click.FloatRange(0, 999), help="Slippage in basis points [2].")
@click.option("--commission", type=click.FloatRange(0), help="Commission per share [0.005].")
@click.option("--option-commission", type=click.FloatRange(0), help="Commission per contract [0.65].")
@click.option("--option-spread", callback=_checked(parse_percent),
              help="Option bid-ask width in vol at 20% implied vol, widening with vol squared, e.g. 0.5%.")
@click.option("--tax-rate", callback=_checked(parse_percent), help="Tax on realised gains, reported apart.")
@click.option("--cash", type=click.FloatRange(min=1000), help="Starting cash [1,000,000].")
@click.option("--out", type=click.Path(file_okay=False),
              help="Output directory [results/<strategy>-<time>/]; must be new or empty, see --overwrite.")
@OVERWRITE_OPTION
@click.option("--seed", type=int, help="Seed recorded in run.json (the run itself is deterministic).")
@click.option("--no-tearsheet", is_flag=True, help="Skip the quantstats HTML tearsheet.")
def backtest(config_path, no_tearsheet, **options):
    """Run one strategy and write returns, trades, orders, positions, a tearsheet and run.json."""
    costs = {key: options.pop(name) for name, key in (
        ("slippage_bp", "slippage_bp"), ("commission", "commission_per_share"),
        ("option_commission", "option_commission_per_contract"), ("option_spread", "option_spread_vol"),
        ("tax_rate", "tax_rate")) if options.get(name) is not None}
    for name in ("slippage_bp", "commission", "option_commission", "option_spread", "tax_rate"):
        options.pop(name, None)
    options["costs"] = costs or None
    from backtests import jobs  # the backtest stack loads only for the commands that need it

    command = [Path(sys.argv[0]).name, *sys.argv[1:]]
    if config_path and Path(config_path).suffix.lower() == ".json":
        outcome = _rerun(jobs, config_path, options, command, no_tearsheet)
    else:
        file_settings = load_config(config_path) if config_path else {}
        settings = merge_settings(file_settings, options)
        if not settings.get("strategy"):  # a config file may name it, so click cannot require it
            raise click.UsageError("Missing option '--strategy' (give it here or as `strategy:` in the "
                                   "--config file).")
        outcome = jobs.backtest({**settings, "command": command}, tearsheet=not no_tearsheet)
    for note in outcome.notes:
        click.echo(f"note: {note}")
    click.echo(outcome.table)
    if outcome.window_text:
        click.echo(outcome.window_text)
    click.echo(f"results written to {outcome.out_dir}")


def _rerun(jobs, path, options, command, no_tearsheet):
    """`backtest --config results/.../run.json`: the saved run's settings, typed back from its
    record, on the same data (refused when the data loads differently); only --out may be added."""
    from backtests.market import prepare_market
    from backtests.provenance import check_same_data, rerun_settings

    given = sorted(k for k, v in options.items() if k != "out" and v not in (None, (), [], {}))
    if given:
        raise click.UsageError(f"a rerun of {path} takes only --out (and --no-tearsheet); drop "
                               f"{', '.join('--' + k.replace('_', '-') for k in given)}")
    run, spec, record = rerun_settings(path)
    market = prepare_market(spec)
    check_same_data(record, market.data_hash, path)
    return jobs.backtest({"out": options.get("out"), "command": command}, market=market,
                         tearsheet=not no_tearsheet, run=run, spec=spec)


@main.command("strategies")
def list_strategies():
    """List the strategies `backtest --strategy` accepts."""
    for entry in STRATEGIES.values():
        click.echo(f"{entry.name:<10} {entry.summary}")



# --- compare command ---


@main.command("compare")
@click.option("--strategies", help="Comma-separated strategies to run on the same data, e.g. "
              "momentum,neutral,defensive,playbook.")
@click.option("--from", "runs_from", multiple=True, type=click.Path(file_okay=False),
              help="A saved run directory to compare without re-running; the directories may follow.")
@click.argument("more_runs", nargs=-1, type=click.Path(file_okay=False))
@click.option("--window", type=click.Choice(["triple-witching", "year-end", "santa-claus", "monthly-expiry"]),
              default=None, help="Run windows-only and add the per-window tables [default: full history].")
@click.option("--before", type=click.IntRange(0, 60), help="Sessions before each event [default: 5].")
@click.option("--after", type=click.IntRange(0, 60), help="Sessions after each event [default: 5].")
@click.option("--out", type=click.Path(file_okay=False), help="Output directory [results/compare-<time>/].")
@OVERWRITE_OPTION
@market_data_options
@click.option("--seed", type=int, help="Seed of the bootstrap confidence intervals [0].")
def compare_command(strategies, runs_from, more_runs, out, overwrite, **options):
    """Compare strategies side by side: run them on the same data (prepared once) or load saved runs
    with --from, print the metrics table and write one self-contained HTML report (metrics, equity
    and drawdowns, monthly heatmaps, and with --window the per-window returns and event study)."""
    from backtests.compare import compare, parse_strategies

    if more_runs and not runs_from:
        raise click.UsageError(f"unexpected argument {more_runs[0]!r}; saved runs go after --from")
    saved = list(runs_from) + list(more_runs)
    if strategies and saved:
        raise click.BadParameter("give --strategies to run or --from saved runs, not both.",
                                 param_hint="'--strategies'")
    if not strategies and not saved:
        raise click.UsageError("give --strategies momentum,neutral,... or --from DIR [DIR ...]")
    if saved and any(options.get(k) is not None for k in ("source", "data_dir", "cache_dir", "start", "end",
                                                          "before", "after", "cash_rate", "universe")):
        raise click.BadParameter("saved runs keep their own data and windows; drop --source, --data-dir, "
                                 "--cache-dir, --start, --end, --cash-rate, --map, --before and --after.",
                                 param_hint="'--from'")
    if options.get("source") == "csv" and not options.get("data_dir"):
        raise click.BadParameter("the csv source needs a folder: add --data-dir DIR.",
                                 param_hint="'--data-dir'")
    names = parse_strategies(strategies) if strategies else None
    outcome = compare(strategies=names, runs_from=saved or None, settings=options, out=out,
                      overwrite=bool(overwrite))
    click.echo(outcome.text)
    click.echo(f"report written to {outcome.report}")


# --- tune command ---



def _range_of(rule):
    """A click callback: the text must be a tuning range of `rule` (strategies.rulespec.parse_range)."""

    def callback(ctx, param, value):
        if value is None:
            return value
        from strategies.rulespec import parse_range

        try:
            parse_range(value, rule=rule)
        except ConfigError as exc:
            raise click.BadParameter(str(exc)) from None
        return value

    return callback


@main.command("tune")
@click.option("--strategy", required=True, type=click.Choice([n for n in STRATEGIES if n != "benchmark"]),
              help="The strategy whose stop (and take-profit) to tune; its other rules keep their defaults.")
@click.option("--stop", required=True, callback=_range_of("stop"),
              help="Stop range KIND:START..STOP:STEP, e.g. trailing:2%..10%:1%, atr:2..4:0.5, time:5..20:5.")
@click.option("--take-profit", callback=_range_of("take-profit"),
              help="Take-profit range, e.g. 4%..16%:2% or atr:1..3:0.5 (a second tuned parameter).")
@click.option("--objective", type=click.Choice(list(OBJECTIVES)), default="sharpe", show_default=True,
              help="Score of a trial's window returns (sharpe and sortino per window, not annualised).")
@click.option("--window", type=click.Choice(["triple-witching", "year-end", "santa-claus", "monthly-expiry"]),
              default="triple-witching", show_default=True,
              help="The windows every trial trades and is judged on.")
@click.option("--before", type=click.IntRange(0, 60), default=5, show_default=True,
              help="Sessions before each event.")
@click.option("--after", type=click.IntRange(0, 60), default=5, show_default=True,
              help="Sessions after each event.")
@click.option("--start", type=DateParam(), help="First session, YYYY-MM-DD.")
@click.option("--end", type=DateParam(), help="Last session, YYYY-MM-DD.")
@click.option("--source", type=click.Choice(["embedded", "yahoo", "csv"]), default="embedded",
              show_default=True, help="Market data source.")
@click.option("--data-dir", type=click.Path(file_okay=False), help="Directory of CSV files (--source csv).")
@click.option("--cache-dir", type=click.Path(file_okay=False), help="Yahoo cache directory.")
@CASH_RATE_OPTION
@MAP_OPTION
@click.option("--sampler", type=click.Choice(list(SAMPLERS)), default="grid", show_default=True,
              help="grid runs every cell; tpe and random run --trials trials.")
@click.option("--trials", type=click.IntRange(min=1), help="Total trials of a tpe or random study.")
@click.option("--jobs", type=click.IntRange(1, 64), default=1, show_default=True,
              help="Worker processes on this machine, sharing the study.")
@click.option("--storage", help="Optuna storage URL shared by workers on many machines, e.g. "
              "postgresql://user:pass@host/db [default: sqlite file study.db in --out].")
@click.option("--study", help="Study name [default: strategy-window-objective-<hash of the search>].")
@click.option("--out", type=click.Path(file_okay=False),
              help="Output directory [results/tune-<study>/]; a used one only if it holds this study.")
@click.option("--min-train-years", type=click.IntRange(min=1), default=DEFAULT_MIN_TRAIN_YEARS,
              show_default=True, help="Years of windows before the first walk-forward test year.")
@click.option("--seed", type=int, help="Seed of the tpe/random sampler (worker N adds N).")
@click.option("--progress/--no-progress", default=None,
              help="Progress bar on stderr [default: on a terminal].")
@click.option("--engine", type=click.Choice(["trial", "backtrader"]), default="trial", show_default=True,
              help="What runs each trial: the trial engine (returns only; the first cell is checked "
              "against backtrader to the bit before the study starts) or backtrader itself.")
def tune_command(**options):
    """Tune a strategy's stop (and take-profit) with Optuna and judge it out of sample.

    A trial is one windows-only backtest over every window; its per-window returns are kept in the
    study (default: study.db in the output directory), so the same command run again resumes where
    it stopped and skips finished trials. Walk-forward: for each year Y the trial with the best
    objective on the windows before Y is scored on Y's windows, against the strategy's default rule.
    Writes leaderboard.csv, walk_forward.csv, is_oos.png, heatmap.png (two tuned parameters),
    summary.txt and tuning.json, and prints a summary that says whether tuning beat the default.

    Example: cli.py tune --strategy neutral --stop trailing:2%..10%:1% --jobs 2
    """
    from backtests.tuning import TuneRequest, tune
    from backtests.tuning_report import format_summary, write_reports

    if options["start"] is not None and options["end"] is not None and options["start"] > options["end"]:
        raise click.BadParameter(f"{options['start'].date()} is after --end {options['end'].date()}; "
                                 "swap them.", param_hint="'--start'")
    if options["source"] == "csv" and not options["data_dir"]:
        raise click.BadParameter("the csv source needs a folder: add --data-dir DIR.",
                                 param_hint="'--data-dir'")
    if options["sampler"] == "grid" and options["trials"] is not None:
        raise click.BadParameter("the grid sampler runs every cell of the ranges; drop --trials or use "
                                 "--sampler tpe or random.", param_hint="'--trials'")
    if options["sampler"] != "grid" and options["trials"] is None:
        raise click.BadParameter(f"--sampler {options['sampler']} needs the study's total, e.g. --trials 50.",
                                 param_hint="'--trials'")
    options["universe"] = tuple((options["universe"] or {}).items())
    outcome = tune(TuneRequest(**options))
    files = write_reports(outcome)
    click.echo(format_summary(outcome, files))


# --- data commands ---


def _data_day(ctx, param, value):
    """--start/--end of the data commands: YYYY-MM-DD to a Timestamp, or None."""
    if value is None:
        return None
    from data.errors import DataError as _DataError
    from data.frames import to_date

    try:
        return to_date(value, param.name)
    except _DataError:
        raise click.BadParameter(f"{value!r} is not a date; use YYYY-MM-DD, e.g. 2018-12-21.") from None


def _warn_line(message):
    click.echo(f"warning: {message}", err=True)


_DATA_SOURCE = click.option(
    "--source",
    type=click.Choice(["embedded", "yahoo", "csv"]),
    default="embedded",
    show_default=True,
    help="embedded: history shipped by installed packages; yahoo: yfinance + cache; csv: --data-dir.",
)
_DATA_DIR = click.option(
    "--data-dir",
    type=click.Path(file_okay=False, path_type=str),
    help="Folder of Yahoo-format CSV files named SYMBOL.csv (csv source).",
)
_CACHE_DIR = click.option(
    "--cache-dir",
    type=click.Path(file_okay=False, path_type=str),
    help="Yahoo cache folder (default: $PLAYBOOK_CACHE_DIR, else the user cache directory).",
)


def _need_data_dir(source, data_dir):
    if source == "csv" and not data_dir:
        raise click.BadParameter(
            "the csv source needs a folder: add --data-dir DIR.",
            param_hint="'--data-dir'",
        )


def _need_ordered(start, end):
    if start is not None and end is not None and start > end:
        raise click.BadParameter(
            f"{start.date()} is after --end {end.date()}; swap them.", param_hint="'--start'"
        )


@main.group("data")
def data_group():
    """Market data: what stands for each playbook symbol, Yahoo downloads, validation."""


@data_group.command("list")
@_DATA_SOURCE
@_DATA_DIR
@_CACHE_DIR
@click.option(
    "--all", "everything", is_flag=True, help="Also list the extra embedded series (^GSPC, large caps)."
)
def data_list_command(source, data_dir, cache_dir, everything):
    """Show each playbook symbol, its part in the playbook, its date range and the proxy behind it.

    On the embedded source a proxy is a real series standing in for the ETF or index (an index for
    SPY/QQQ, an equal-weight basket of large caps for a sector ETF, compounded Fama-French T-bill
    returns for BIL/SHY); "-" means no daily series exists offline.
    """
    from data.catalog import format_rows, list_rows

    _need_data_dir(source, data_dir)
    for line in format_rows(list_rows(source, data_dir, cache_dir, everything)):
        click.echo(line.rstrip())


@data_group.command("fetch")
@click.argument("symbols", nargs=-1, required=True)
@click.option("--start", callback=_data_day, help="First date (YYYY-MM-DD); default: all history.")
@click.option("--end", callback=_data_day, help="Last date (YYYY-MM-DD), inclusive; default: today.")
@_CACHE_DIR
@click.option("--refresh", is_flag=True, help="Download again even when the cache covers the dates.")
def data_fetch_command(symbols, start, end, cache_dir, refresh):
    """Download SYMBOLS from Yahoo Finance into the cache, one CSV file per symbol.

    A symbol whose cache file already covers the dates is left alone unless --refresh. Each file is
    validated after the download; a failed download or validation prints one line and exits 2.
    """
    from data.catalog import echo_user_warnings, fetch_symbols

    _need_ordered(start, end)
    failed = 0
    with echo_user_warnings(_warn_line):
        for symbol, result, error in fetch_symbols(symbols, start, end, cache_dir, refresh):
            if result is not None:
                action = "downloaded" if result.downloaded else "already cached"
                click.echo(
                    f"{symbol}: {action} {result.first:%Y-%m-%d} to {result.last:%Y-%m-%d}, "
                    f"{result.rows} rows -> {result.path}"
                )
            if error is not None:
                failed += 1
                click.echo(f"error: {error}", err=True)
    if failed:
        click.get_current_context().exit(2)


@data_group.command("validate")
@_DATA_SOURCE
@_DATA_DIR
@_CACHE_DIR
@click.option("--symbols", multiple=True, help="Symbol to check (repeat, or comma-separate); default: all.")
@click.option("--start", callback=_data_day, help="First date to check (YYYY-MM-DD).")
@click.option("--end", callback=_data_day, help="Last date to check (YYYY-MM-DD).")
@click.option("--refresh", is_flag=True, help="yahoo: download again even when cached.")
def data_validate_command(source, data_dir, cache_dir, symbols, start, end, refresh):
    """Check every symbol: sorted unique dates, no gaps, positive prices, low <= open/close <= high,
    no single-session move or volume beyond the bound of its kind of series (docs/data.md), history
    reaching --start. One line per symbol (OK, FAIL with the rule broken and the row, or SKIP where
    no offline series exists); exit code 2 if any FAIL. Without --symbols, the strategies the valid
    series can run, and what each of the others lacks. The embedded source also lists the one
    repair it applies to shipped files and facts kept as they are.
    """
    from data.catalog import check_symbols, echo_user_warnings, embedded_remarks

    _need_data_dir(source, data_dir)
    _need_ordered(start, end)
    wanted = [s.strip() for item in symbols for s in item.split(",") if s.strip()]
    with echo_user_warnings(_warn_line):
        lines = check_symbols(wanted, source, start, end, data_dir, cache_dir, refresh)
    width = max((len(line.symbol) for line in lines), default=0)
    for line in lines:
        click.echo(f"{line.status:<4}  {line.symbol:<{width}}  {line.message}")
    if source == "embedded":
        for remark in embedded_remarks():
            click.echo(remark)
    if not wanted:  # the whole folder (or universe): which strategies its valid series can run
        from backtests.symbols import runnable

        usable = {canonical_symbol(line.symbol) for line in lines if line.status == "OK"}
        for name, missing in runnable(usable):
            click.echo(f"can run   {name}" if not missing else
                       f"cannot    {name}: no valid {', '.join(missing)}")
    if any(line.status == "FAIL" for line in lines):
        click.get_current_context().exit(2)


# --- windows command ---



@main.command("windows")
@click.option("--kind", required=True, type=click.Choice(WINDOW_KINDS), help="Which calendar windows.")
@click.option("--start", required=True, type=DateParam(), help="First event date to list (YYYY-MM-DD).")
@click.option("--end", required=True, type=DateParam(), help="Last event date to list (YYYY-MM-DD).")
@click.option(
    "--before",
    default=DEFAULT_BEFORE,
    show_default=True,
    type=click.IntRange(min=0),
    help="Sessions before the event (triple-witching, monthly-expiry only).",
)
@click.option(
    "--after",
    default=DEFAULT_AFTER,
    show_default=True,
    type=click.IntRange(min=0),
    help="Sessions after the event (triple-witching, monthly-expiry only).",
)
@click.option(
    "--format",
    "output_format",
    default="table",
    show_default=True,
    type=click.Choice(["table", "csv"]),
    help="table to read; csv (header, ISO dates) for other tools.",
)
def windows_command(kind, start, end, before, after, output_format):
    """List the NYSE calendar windows of KIND whose event falls between --start and --end.

    One row per window: the event session, the window's first and last session and its number of
    sessions. triple-witching and monthly-expiry windows run from the --before-th session before
    the expiry to the --after-th session after it; year-end (sessions after December 15 through
    the year's last session) and santa-claus (last 5 sessions of December plus first 2 of
    January) are fixed and ignore --before/--after; their event is the last session of December.
    A window may reach past --start or --end: only its event has to lie between them.
    """
    if start > end:
        raise click.BadParameter(
            f"{start.date()} is after --end {end.date()}; swap them.", param_hint="'--start'"
        )
    table = windows_frame(nyse_windows(kind, start, end, before=before, after=after))
    if output_format == "csv":
        click.echo(table.to_csv(index=False, date_format="%Y-%m-%d", lineterminator="\n"), nl=False)
    elif table.empty:
        click.echo(f"no {kind} windows with an event between {start.date()} and {end.date()}")
    else:
        shown = table.drop(columns="kind").assign(
            **{column: table[column].dt.strftime("%Y-%m-%d") for column in ("event", "first", "last")}
        )
        click.echo(shown.to_string(index=False))


# --- options commands ---



@main.group("options")
def options_group():
    """Checks of the option engine (pricing, fills, settlement, marks) against published figures."""


@options_group.command("benchmark")
@click.option("--index", "index_name", required=True, type=click.Choice(cboe_twins.INDICES),
              help="bxm: buy-write; pput: 5% put protection; cll: 95-110 collar; put: put-write.")
@click.option("--start", type=DateParam(), default=None,
              help="First session (YYYY-MM-DD) [the first with an OHLCV S&P 500, 1999-01-04].")
@click.option("--end", type=DateParam(), default=None,
              help="Last session (YYYY-MM-DD) [the last with a published T-bill rate, 2018-11-30].")
@click.option("--vol-method", type=click.Choice(VOL_METHODS), default="ewma", show_default=True,
              help="Realised-vol forecast where there is no VIX (bias-corrected walk-forward, then x the "
                   "implied/realised ratio): RiskMetrics EWMA, GARCH(1,1) or trailing 21-session.")
@click.option("--vrp-ratio", type=click.FloatRange(min=0.5, max=3.0), default=VRP_RATIO, show_default=True,
              help="Implied / realised volatility on that forecast; default Bondarenko 2019's 19.3/15.1.")
@click.option("--source", type=click.Choice(["embedded", "yahoo", "csv"]), default="embedded",
              show_default=True,
              help="Market data; VIX prices every session it covers (embedded 2014-2018, yahoo 1990 on).")
@click.option("--data-dir", type=click.Path(file_okay=False), help="Directory of CSV files (--source csv).")
@click.option("--cache-dir", type=click.Path(file_okay=False), help="Yahoo cache directory.")
@CASH_RATE_OPTION
def options_benchmark(index_name, start, end, vol_method, vrp_ratio, source, data_dir, cache_dir,
                      cash_rate):
    """Run our synthetic twin of a Cboe strategy index on the S&P 500 and print it beside
    the S&P 500 (same sessions, both with the S&P 500's trailing dividend yield) and the published
    figures: annualised return, volatility, max drawdown and Sharpe, then each relation (e.g. BXM
    volatility / S&P 500 volatility) with the published value, the tolerance band and PASS / MISS,
    and the implied-vol proxy check (mean ATM implied vol / mean realised vol where the proxy is not
    VIX).

    Every option is priced, filled (next open), settled (expiry-session open) and marked by the
    playbooks' own option book, with no costs, as Cboe's indices have; "twin with costs" adds a 3%
    spread, a 0.05 tick and 0.65 per contract.
    """
    if start is not None and end is not None and start > end:
        raise click.BadParameter(f"{start.date()} is after --end {end.date()}; swap them.",
                                 param_hint="'--start'")
    if source == "csv" and not data_dir:
        raise click.BadParameter("the csv source needs a folder: add --data-dir DIR.",
                                 param_hint="'--data-dir'")
    market = cboe_twins.twin_market(start, end, vol_method, vrp_ratio, source=source, data_dir=data_dir,
                                    cache_dir=cache_dir, cash_rate=cash_rate)
    click.echo(cboe_twins.format_report(cboe_twins.benchmark_report(index_name, market, vol_method,
                                                                    vrp_ratio=vrp_ratio)))



# --- regime commands ---



_MODEL_HELP = (f"rules: the column's rules with walk-forward calibrated weights; logistic: walk-forward "
               f"logistic regression on the column's signals; prior: the constant 35/45/20 "
               f"[default: {DEFAULT_MODEL}, the best out of sample, see `regime evaluate`].")


@main.group("regime", invoke_without_command=True)
@click.option("--date", type=DateParam(), default=None, help="Session to classify (YYYY-MM-DD).")
@click.option("--model", type=click.Choice(MODELS + REFERENCE_MODELS), default=None, help=_MODEL_HELP)
@click.option("--source", type=click.Choice(SOURCES), default="embedded", show_default=True,
              help="Where the market data comes from.")
@click.option("--data-dir", type=click.Path(file_okay=False), default=None,
              help="Directory of Yahoo-format csv files (--source csv).")
@MAP_OPTION
@click.pass_context
def regime_group(ctx, date, model, source, data_dir, universe):
    """Which playbook scenario holds: momentum, range or selloff, with probabilities.

    `regime --date D` prints the features, probabilities and label of session D (from data up to
    D's close), the rules that fired, and what the next 5 sessions turned out to be. `regime
    evaluate` prints the scorecard of every model against the 35/45/20 prior and the label
    frequencies known at the time, and names the model the playbook trades on.
    """
    ctx.ensure_object(dict)
    ctx.obj["regime"] = {"model": model, "source": source, "data_dir": data_dir, "universe": universe}
    if ctx.invoked_subcommand is not None:
        if date is not None:
            raise click.BadParameter("--date is for the one-session report; drop it or the subcommand.",
                                     param_hint="'--date'")
        return
    if date is None:
        raise click.UsageError("give --date YYYY-MM-DD for one session, or the subcommand evaluate.", ctx=ctx)
    report = session_report(date, source=source, model=model or DEFAULT_MODEL, data_dir=data_dir,
                            universe=universe)
    click.echo(format_session(report))


@regime_group.command("evaluate")
@click.option("--window", type=click.Choice(WINDOWS), default=None,
              help="Only this window kind [default: all three: all sessions, triple-witching, year-end].")
@click.option("--model", type=click.Choice(MODELS + REFERENCE_MODELS), default=None,
              help="Only this model's rows and reliability [default: every model, and rules-as-written "
              "(the column's hand-set weights) for reference].")
@click.option("--source", type=click.Choice(SOURCES), default=None, help="Data source (default: embedded).")
@click.option("--data-dir", type=click.Path(file_okay=False), default=None,
              help="Directory of Yahoo-format csv files (--source csv).")
@click.option("--start", type=DateParam(), default=None, help="First session to score (YYYY-MM-DD).")
@click.option("--end", type=DateParam(), default=None, help="Last session to score (YYYY-MM-DD).")
@click.option("--format", "output_format", type=click.Choice(["table", "json"]), default="table",
              show_default=True, help="table to read; json: one object per model and window.")
@click.option("--plot", type=click.Path(dir_okay=False), default=None,
              help="Also write the reliability diagram as a PNG file here (a new file, see --overwrite).")
@click.option("--overwrite", is_flag=True, help="Replace an existing --plot file.")
@click.pass_context
def regime_evaluate(ctx, window, model, source, data_dir, start, end, output_format, plot, overwrite):
    """Scorecard of the regime models on non-overlapping 5-session horizons: Brier score, log loss
    and hit rate against the constant 35/45/20 prior and against the label frequencies known at the
    time, with year-block bootstrap 90% intervals, per window kind; the scenario label's definition;
    the reliability table; and the model the playbook trades on, with the evidence (skill on the
    first half of the scored years, and on the held-out second half).
    """
    from backtests.files import check_out_file

    check_out_file(plot, overwrite, "--plot")  # before the scorecard is computed
    shared = ctx.obj["regime"]
    if start is not None and end is not None and start > end:
        raise click.BadParameter(f"{start.date()} is after --end {end.date()}; swap them.",
                                 param_hint="'--start'")
    model = model or shared["model"]
    report = evaluate(
        source=source or shared["source"],
        data_dir=data_dir or shared["data_dir"],
        start=start,
        end=end,
        models=(model,) if model else MODELS + REFERENCE_MODELS,
        windows=(window,) if window else WINDOWS,
        universe=shared["universe"],
    )
    if plot:
        plot_reliability(report, plot)
    click.echo(scorecard_json(report) if output_format == "json" else format_scorecard(report, details=model))


if __name__ == "__main__":
    sys.exit(main())
