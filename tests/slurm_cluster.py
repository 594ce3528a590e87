"""A real one-node Slurm cluster on 127.0.0.1 for the tests: munged, slurmctld and slurmd
from Debian's slurm-wlm, every file in a private directory, free ports, no system service
touched. Job states come from squeue (MinJobAge keeps finished jobs a day) and from
`sacct --completion` (jobcomp/filetxt): accounting storage needs slurmdbd and a database.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

DAEMONS = ("munged", "slurmctld", "slurmd", "sbatch", "squeue", "sacct")


@dataclass
class Cluster:
    root: Path
    conf: Path

    @property
    def env(self) -> dict[str, str]:
        return {"SLURM_CONF": str(self.conf)}

    def run(self, *argv: str) -> str:
        return subprocess.run(argv, env={**os.environ, **self.env}, capture_output=True, text=True, check=True).stdout


def unavailable() -> str | None:
    """Why this machine cannot host the test cluster, or None."""
    missing = [d for d in DAEMONS if shutil.which(d) is None and not Path(f"/usr/sbin/{d}").exists()]
    if missing:
        return f"Slurm not installed ({', '.join(missing)} missing; apt-get install slurm-wlm munge, as .ci/run does)"
    if os.geteuid() != 0:
        return "slurmd must run as root to start jobs as the submitting user (run the tests as root, as CI does)"
    return None


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _tool(name: str) -> str:
    return shutil.which(name) or f"/usr/sbin/{name}"


def start(root: Path, features: str) -> Cluster:
    """Start munged, slurmctld and slurmd under `root`; wait until the node is idle."""
    for sub in ("state", "spool", "log"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    key = root / "munge.key"
    key.write_bytes(os.urandom(1024))
    key.chmod(0o600)
    subprocess.run(
        [
            _tool("munged"),
            "--force",
            f"--socket={root}/munge.sock",
            f"--key-file={key}",
            f"--pid-file={root}/munged.pid",
            f"--log-file={root}/log/munged.log",
            f"--seed-file={root}/munge.seed",
        ],
        check=True,
    )
    conf = root / "slurm.conf"
    conf.write_text(f"""\
ClusterName=pmpmtest
SlurmctldHost=localhost(127.0.0.1)
SlurmctldPort={_port()}
SlurmdPort={_port()}
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
AuthInfo=socket={root}/munge.sock
StateSaveLocation={root}/state
SlurmdSpoolDir={root}/spool
SlurmctldPidFile={root}/slurmctld.pid
SlurmdPidFile={root}/slurmd.pid
SlurmctldLogFile={root}/log/slurmctld.log
SlurmdLogFile={root}/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
SchedulerType=sched/backfill
SchedulerParameters=sched_interval=1
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/filetxt
JobCompLoc={root}/log/jobcomp.txt
MinJobAge=86400
ReturnToService=2
MpiDefault=none
NodeName=localhost NodeAddr=127.0.0.1 CPUs=2 RealMemory=1000 Features={features} State=UNKNOWN
PartitionName=debug Nodes=localhost Default=YES MaxTime=INFINITE State=UP
""")
    cluster = Cluster(root, conf)
    env = {**os.environ, **cluster.env}
    subprocess.run([_tool("slurmctld"), "-f", str(conf)], env=env, check=True)
    subprocess.run([_tool("slurmd"), "-f", str(conf), "-N", "localhost"], env=env, check=True)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        proc = subprocess.run(["sinfo", "-h", "-o", "%T"], env=env, capture_output=True, text=True)
        if proc.returncode == 0 and proc.stdout.strip() == "idle":
            return cluster
        time.sleep(0.5)
    logs = "\n".join(
        (root / "log" / f).read_text()[-2000:] for f in ("slurmctld.log", "slurmd.log") if (root / "log" / f).exists()
    )
    stop(cluster)
    raise RuntimeError(f"the test Slurm node never became idle:\n{logs}")


def stop(cluster: Cluster) -> None:
    """Stop exactly the daemons `start` began, by their pid files."""
    for name in ("slurmd", "slurmctld", "munged"):
        pid_file = cluster.root / f"{name}.pid"
        try:
            os.kill(int(pid_file.read_text().split()[0]), signal.SIGTERM)
        except (OSError, ValueError):
            pass
