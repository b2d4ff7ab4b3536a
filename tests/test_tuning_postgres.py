"""Two `cli.py tune` processes sharing one study in a real PostgreSQL server (Optuna's distributed
mode), started by the test on loopback in a temporary directory.

The server comes from the Debian `postgresql` package (initdb and pg_ctl under
/usr/lib/postgresql/*/bin; .ci/run installs it). Running as root, the server runs as the `postgres`
user (PostgreSQL refuses root); as anyone else, as that user. The test is skipped only when the
binaries are absent.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

import optuna
import pandas as pd
import pytest
from rates import CASH_RATE_ARGS

from backtests import tuning
from backtests.tuning import STOP_PARAM

ROOT = Path(__file__).resolve().parents[1]
BINARIES = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"))


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module")
def postgres_url():
    """postgresql://postgres@127.0.0.1:PORT/postgres of a throw-away server, stopped afterwards."""
    if not BINARIES:
        pytest.skip("PostgreSQL server binaries not found under /usr/lib/postgresql/*/bin "
                    "(Debian package `postgresql`)")
    bin_dir = Path(BINARIES[-1]).parent
    as_user: list[str] = []
    if os.geteuid() == 0:
        as_user = ["runuser", "-u", "postgres", "--"]
    home = Path(tempfile.mkdtemp(prefix="pg-tune-", dir="/tmp"))  # /tmp: the server user can reach it
    if os.geteuid() == 0:
        account = pwd.getpwnam("postgres")
        os.chown(home, account.pw_uid, account.pw_gid)
    port = _free_port()
    data = home / "data"
    try:
        subprocess.run(as_user + [str(bin_dir / "initdb"), "-D", str(data), "-U", "postgres", "-A", "trust",
                                  "--no-sync", "-E", "UTF8"], check=True, capture_output=True)
        subprocess.run(as_user + [str(bin_dir / "pg_ctl"), "-D", str(data), "-l", str(home / "server.log"),
                                  "-w", "-t", "60", "-o",
                                  f"-p {port} -k {home} -c listen_addresses=127.0.0.1 -c fsync=off", "start"],
                       check=True, capture_output=True)
        yield f"postgresql://postgres@127.0.0.1:{port}/postgres"
    finally:
        if (data / "postmaster.pid").exists():
            subprocess.run(as_user + [str(bin_dir / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w",
                                      "stop"], capture_output=True)
        shutil.rmtree(home, ignore_errors=True)


@pytest.mark.slow
def test_two_processes_finish_a_shared_grid_exactly_once(postgres_url, tmp_path):
    levels = [round(0.01 * n, 2) for n in range(1, 9)]
    command = [sys.executable, str(ROOT / "cli.py"), "tune", "--strategy", "neutral", "--stop",
               "trailing:1%..8%:1%", "--start", "2012-01-01", "--end", "2018-12-31", *CASH_RATE_ARGS,
               "--storage", postgres_url, "--study", "shared-grid", "--no-progress",
               "--engine", "backtrader"]  # trials long enough for both workers to take a share
    # both start together, against a database without Optuna's tables: they race to create them too
    workers = [subprocess.Popen(command + ["--out", str(tmp_path / f"worker{n}")], cwd=ROOT,
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True) for n in (1, 2)]
    outputs = [worker.communicate(timeout=300)[0] for worker in workers]
    for worker, output in zip(workers, outputs):
        assert worker.returncode == 0, output
        assert "verdict:" in output

    storage = tuning.with_driver(postgres_url)  # SQLAlchemy 2.1 reads bare postgresql:// as psycopg 3
    trials = optuna.load_study(study_name="shared-grid", storage=storage).get_trials()
    complete = [t for t in trials if t.state.name == "COMPLETE"]
    assert sorted(t.params[STOP_PARAM] for t in complete) == levels  # every cell once, none twice
    assert not [t for t in trials if t.state.name in ("RUNNING", "WAITING", "FAIL")]
    workers_seen = {t.user_attrs["worker"].rpartition(":")[2] for t in complete}
    assert workers_seen == {str(worker.pid) for worker in workers}  # both did a share of the grid

    # the report any machine makes from the study alone lists the whole grid
    evaluation = tuning.report_study(postgres_url, "shared-grid")
    assert sorted(evaluation.in_sample.index) == sorted(t.number for t in complete)
    last = pd.read_csv(tmp_path / "worker1" / "leaderboard.csv")
    assert set(last["trial"]) <= {t.number for t in trials}


def test_the_grid_holder_query_in_postgresql(postgres_url):
    """grid_holder's SQL (value_json equality, the trial-state enum) answers in PostgreSQL as a scan
    of every trial does: a re-handed cell names its first live holder, a pruned holder holds nothing."""
    storage = tuning.open_storage(postgres_url)
    try:
        optuna.logging.set_verbosity(optuna.logging.ERROR)
        space = tuning.SearchSpace.parse("trailing:2%..3%:1%")
        study = optuna.create_study(storage=storage, study_name="holder-query",
                                    sampler=tuning._GridSampler(space.grid(), seed=0))
        held = study.ask()  # cell 0, running
        done = study.ask()  # cell 1
        study.tell(done, 0.0)
        again = study.ask()  # every cell started: handed a started cell again
        frozen = {t.number: t for t in study.get_trials()}
        cell = frozen[again.number].system_attrs["grid_id"]
        scan = [n for n, t in frozen.items() if n < again.number and t.state.name in ("COMPLETE", "RUNNING")
                and t.system_attrs["grid_id"] == cell]
        assert scan == [held.number]  # the one unfinished cell is handed out again
        assert tuning.grid_holder(again) == held.number and tuning.grid_holder(held) is None
        plain = optuna.load_study(study_name="holder-query", storage=storage,
                                  sampler=optuna.samplers.RandomSampler())
        plain.tell(held.number, state=optuna.trial.TrialState.PRUNED)
        assert tuning.grid_holder(again) is None  # a pruned trial holds nothing; trial 1 has the other cell
    finally:
        storage.engine.dispose()
