"""Back-office and submission figures with 100 000 demandes, through the real gateway.

    .venv/bin/python bench/demarches_backoffice.py [--rows 100000] [--citizens 20] [--submits 15]

Starts an isolated stack (its own vhost, PostgreSQL databases when 127.0.0.1:5432 answers,
else SQLite), inserts the demandes straight into the démarches database (bulk insert),
serves the gateway with gunicorn as `make run` does (gthread), then measures over HTTP:
the ceiling (a route doing one do-nothing RPC, demarches.health), the agents' list with
filters and searches (goal p95 < 50 ms), and submissions by concurrent citizens (goal
p95 < 300 ms). Prints the figures; asserts nothing.
"""
from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import statistics
import subprocess
import sys
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
for p in ("common", "services/demarches", "gateway"):
    sys.path.insert(0, str(ROOT / p))

FIRST = ["Anne", "Paul", "Camille", "Louis", "Léa", "Hugo", "Chloé", "Jules", "Inès", "Lucas", "Emma", "Nathan",
         "Manon", "Théo", "Sarah", "Tom", "Jade", "Enzo", "Lina", "Noah"]
LAST = ["Martin", "Bernard", "Dubois", "Thomas", "Robert", "Richard", "Petit", "Durand", "Leroy", "Moreau", "Simon",
        "Laurent", "Lefebvre", "Michel", "Garcia", "David", "Bertrand", "Roux", "Vincent", "Fournier", "Morel",
        "Girard", "André", "Lefèvre", "Mercier", "Dupont", "Lambert", "Bonnet", "François", "Martinez"]
CITIES = ["Versailles", "Le Chesnay", "Viroflay", "Vélizy", "Buc", "Jouy-en-Josas"]
STATUSES = ["en_attente"] * 30 + ["en_traitement"] * 30 + ["clos"] * 25 + ["refuse"] * 10 + ["info_demandee"] * 5


def pct(values: list[float], q: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, int(round(q * (len(s) - 1))))]


def fmt(name: str, lat: list[float], wall: float | None = None) -> str:
    line = f"{name:<48} n={len(lat):<5} p50={statistics.median(lat) * 1000:7.1f} ms  p95={pct(lat, .95) * 1000:7.1f} ms"
    if wall:
        line += f"  {len(lat) / wall:7.1f} req/s"
    return line


# --- data -------------------------------------------------------------------------------


def bulk_insert(db_url: str, rows: int) -> tuple[str, str]:
    from guichet_common.db import make_engine
    from guichet_demarches import domain
    from guichet_demarches.models import Demande, DemarcheVersion
    from sqlalchemy import insert, select, text
    from sqlalchemy.orm import Session

    engine = make_engine(db_url)
    rnd = random.Random(42)
    with Session(engine) as s:
        versions = {slug: vid for slug, vid in s.execute(select(DemarcheVersion.slug, DemarcheVersion.id))}
    acte, subv = versions["acte-de-naissance"], versions["subvention-association"]
    now = datetime.now(UTC)
    sample_number, sample_name = "", ""
    t0 = time.perf_counter()
    batch: list[dict[str, Any]] = []
    with engine.begin() as conn:
        for i in range(rows):
            first, last = rnd.choice(FIRST), rnd.choice(LAST)
            is_acte = rnd.random() < 0.7
            if is_acte:
                answers = {"prenom": first, "nom": last, "courriel": f"{first.lower()}.{i}@example.test",
                           "adresse": {"street": f"{rnd.randint(1, 120)} rue des Lilas", "postcode": "78000",
                                       "city": rnd.choice(CITIES)},
                           "pour_qui": "moi",
                           "date_naissance": f"19{rnd.randint(40, 99)}-0{rnd.randint(1, 9)}-1{rnd.randint(0, 9)}",
                           "type_acte": rnd.choice(["copie_integrale", "extrait_filiation"]), "nombre": 1}
                slug, vid, title = "acte-de-naissance", acte, "Demande d'acte de naissance"
            else:
                answers = {"prenom": first, "nom": last, "intitule": f"Projet {i}", "montant": rnd.randint(100, 9000),
                           "domaines": ["sport"], "iban": "FR76 3000 6000 0112 3456 7890 189"}
                slug, vid, title = "subvention-association", subv, "Demande de subvention de fonctionnement"
            number = domain.new_tracking_number()
            at = now - timedelta(minutes=rnd.randint(0, 525_600))
            name = f"{first} {last}"
            batch.append({"id": uuid.uuid4().hex, "account_id": uuid.uuid4().hex, "demarche_slug": slug,
                          "version_id": vid, "demarche_title": title, "association_id": None if is_acte else "asso-1",
                          "status": rnd.choice(STATUSES), "tracking_number": number, "answers": answers,
                          "applicant_name": name, "applicant_email": answers.get("courriel", ""), "assigned_to": None,
                          "assigned_name": "", "search_text": domain.search_text(number, name, title, answers),
                          "anonymised": False, "created_at": at, "updated_at": at, "submitted_at": at})
            if i == rows // 2:
                sample_number, sample_name = number, last
            if len(batch) == 5000:
                conn.execute(insert(Demande), batch)
                batch = []
        if batch:
            conn.execute(insert(Demande), batch)
    if engine.dialect.name == "postgresql":  # what autovacuum does to a table in steady state
        with engine.connect() as conn:
            conn.execution_options(isolation_level="AUTOCOMMIT").execute(text("VACUUM ANALYZE demande"))
    else:
        with engine.begin() as conn:
            conn.execute(text("ANALYZE"))
    print(f"inserted {rows} demandes in {time.perf_counter() - t0:.1f} s ({engine.dialect.name})")
    engine.dispose()
    return sample_number, sample_name


def _cpu_s(pid: int) -> float:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime


def cpu_by_process(env: Any, gw: subprocess.Popen) -> dict[str, float]:  # type: ignore[type-arg]
    """CPU seconds used so far by each part of the pipeline (services, gateway, PostgreSQL,
    RabbitMQ, the mail sink), to show where a submission's cost goes."""
    out: dict[str, float] = {}
    for svc, procs in env.procs.items():
        out[svc] = sum(_cpu_s(p.pid) for p in procs)
    children = Path(f"/proc/{gw.pid}/task/{gw.pid}/children")
    out["gateway"] = sum(_cpu_s(int(p)) for p in (children.read_text().split() if children.exists() else []))
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            comm = (proc / "comm").read_text().strip()
            cmd = (proc / "cmdline").read_bytes()
        except OSError:
            continue
        group = ("postgresql" if comm.startswith("postgres") else "rabbitmq" if comm.startswith(("beam", "erl"))
                 else "mailsink" if b"guichet_common.mailsink" in cmd else None)
        if group:
            out[group] = out.get(group, 0.0) + _cpu_s(int(proc.name))
    return out


def profile(out: str, env: Any, gw: subprocess.Popen) -> list[subprocess.Popen]:  # type: ignore[type-arg]
    """py-spy on every service process and gunicorn worker (samples, not a figure)."""
    spy = Path(sys.executable).parent / "py-spy"
    if not spy.exists():
        print("--profile: py-spy is not installed in this venv (pip install py-spy)")
        return []
    Path(out).mkdir(parents=True, exist_ok=True)
    pids = {f"{svc}-{i}": p.pid for svc, procs in env.procs.items() for i, p in enumerate(procs)}
    children = Path(f"/proc/{gw.pid}/task/{gw.pid}/children")
    for i, pid in enumerate(children.read_text().split() if children.exists() else []):
        pids[f"gateway-{i}"] = int(pid)
    return [subprocess.Popen([str(spy), "record", "-p", str(pid), "-f", "raw", "-r", "200", "-o",
                              str(Path(out) / f"{name}.txt")], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            for name, pid in pids.items()]


# --- HTTP -------------------------------------------------------------------------------


class Client:
    def __init__(self, port: int, token: str | None = None) -> None:
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        self.headers = {"Authorization": "Bearer " + token} if token else {}

    def call(self, method: str, path: str, body: Any = None, headers: dict[str, str] | None = None) -> tuple[int, Any]:
        h = dict(self.headers, **(headers or {}))
        data = None
        if body is not None:
            data = json.dumps(body)
            h["Content-Type"] = "application/json"
        try:
            self.conn.request(method, path, body=data, headers=h)
            r = self.conn.getresponse()
        except (ConnectionError, http.client.HTTPException):  # the server closed an idle keep-alive
            self.conn.close()
            self.conn.request(method, path, body=data, headers=h)
            r = self.conn.getresponse()
        raw = r.read()
        try:
            return r.status, json.loads(raw) if raw else None
        except ValueError:
            return r.status, raw


def timed(client: Client, method: str, path: str, body: Any = None, headers: dict[str, str] | None = None,
          expect: int = 200) -> float:
    t = time.perf_counter()
    status, data = client.call(method, path, body, headers)
    dt = time.perf_counter() - t
    if status != expect:
        raise RuntimeError(f"{method} {path} -> {status}: {str(data)[:300]}")
    return dt


def concurrent(port: int, tokens: list[str | None], work: Any) -> tuple[list[float], float]:
    lat: list[float] = []
    lock = threading.Lock()
    errors: list[BaseException] = []

    def run(token: str | None, k: int) -> None:
        c = Client(port, token)
        try:
            mine = work(c, k)
        except BaseException as exc:  # reported after the join
            errors.append(exc)
            return
        with lock:
            lat.extend(mine)

    threads = [threading.Thread(target=run, args=(t, k)) for k, t in enumerate(tokens)]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - t0
    if errors:
        raise errors[0]
    return lat, wall


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--citizens", type=int, default=20)
    parser.add_argument("--submits", type=int, default=15, help="demandes submitted by each citizen")
    parser.add_argument("--requests", type=int, default=200, help="requests per read measure")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers")
    parser.add_argument("--demarches-replicas", type=int, default=1,
                        help="démarches service processes (operators scale it like docker compose --scale)")
    parser.add_argument("--profile", metavar="DIR", help="record each process with py-spy (if installed) while "
                        "the 20 citizens submit: DIR/<process>.txt, collapsed stacks")
    args = parser.parse_args()

    from guichet_common import devstack
    from guichet_common.testing.env import PYTHONPATH, S3Server, TestEnv, clean_stale

    clean_stale()
    s3 = S3Server()
    env = TestEnv("bench", s3)
    gw = None
    try:
        env.start_all()
        if args.demarches_replicas > 1:
            env.start_service("demarches", replicas=args.demarches_replicas - 1)
        number, name = bulk_insert(env.db_urls["demarches"], args.rows)
        port = devstack.free_port()
        gw_env = dict(os.environ, PYTHONPATH=PYTHONPATH + ":" + str(ROOT / "bench"), PYTHONWARNINGS="ignore",
                      **env.env())
        gw = subprocess.Popen([str(Path(sys.executable).parent / "gunicorn"), "--worker-class", "gthread",
                               "--threads", "8", "--workers", str(args.workers), "--keep-alive", "60",
                               "--bind", f"127.0.0.1:{port}", "--log-level", "warning",
                               "demarches_ping_gateway:create_app()"], env=gw_env)
        devstack.wait_port(port)
        anon = Client(port)
        for _ in range(50):  # the workers connect their RPC proxies lazily
            anon.call("GET", "/bench/ping")

        # the ceiling: gateway -> one do-nothing RPC
        lat = [timed(anon, "GET", "/bench/ping") for _ in range(args.requests)]
        print(fmt("ceiling GET /bench/ping (demarches.health), 1 client", lat))
        lat, wall = concurrent(port, [None] * 8, lambda c, k: [timed(c, "GET", "/bench/ping") for _ in range(args.requests // 2)])
        print(fmt("ceiling, 8 clients", lat, wall))
        lat, wall = concurrent(port, [None] * 20, lambda c, k: [timed(c, "GET", "/bench/ping") for _ in range(50)])
        print(fmt("ceiling, 20 clients", lat, wall))

        # the agents' list
        status, pair = anon.call("POST", "/api/v1/auth/login", {"email": "agent@guichet.test", "password": "AgentDemo2026!"})
        agent = Client(port, pair["access_token"])
        queries = {
            "list status+demarche filter": "/api/v1/backoffice/demandes?status=en_traitement&demarche=acte-de-naissance",
            "list filter + counts per status (cached 3 s)": "/api/v1/backoffice/demandes?demarche=acte-de-naissance&counts=1",
            "list page 50 of a filter": "/api/v1/backoffice/demandes?status=clos&page=50",
            f"search name q={name}": f"/api/v1/backoffice/demandes?q={name}",
            f"search name + status q={name}&status=clos": f"/api/v1/backoffice/demandes?q={name}&status=clos",
            "search free text q=lilas 7": "/api/v1/backoffice/demandes?q=lilas%207",
            "search tracking number": f"/api/v1/backoffice/demandes?q={number}",
        }
        print(f"--- back-office list over {args.rows} demandes (goal p95 < 50 ms), 1 agent")
        for label, path in queries.items():
            for _ in range(5):
                timed(agent, "GET", path)
            lat = [timed(agent, "GET", path) for _ in range(args.requests // 2)]
            print(fmt(label, lat))
        lat, wall = concurrent(port, [pair["access_token"]] * 4, lambda c, k: [
            timed(c, "GET", p) for _ in range(10) for p in queries.values()])
        print(fmt("mixed list/search, 4 agents at once", lat, wall))

        # submissions by concurrent citizens
        print(f"--- submissions: {args.citizens} citizens x {args.submits} demandes")
        tokens = []
        for i in range(args.citizens):
            addr = f"bench-{i}-{os.urandom(3).hex()}@example.test"
            anon.call("POST", "/api/v1/accounts", {"email": addr, "password": "Versailles2026!", "first_name": "Anne",
                                                   "last_name": f"Banc{i}"})
            tok = env.mail.token(addr, "activation")
            anon.call("POST", "/api/v1/accounts/activate", {"token": tok})
            _, login = anon.call("POST", "/api/v1/auth/login", {"email": addr, "password": "Versailles2026!"})
            tokens.append(login["access_token"])
        drafts: dict[int, list[str]] = {}

        def prepare(c: Client, k: int) -> list[float]:
            out = []
            ids = []
            for _ in range(args.submits):
                t = time.perf_counter()
                _, d = c.call("POST", "/api/v1/demandes", {"demarche": "acte-de-naissance"})
                c.call("PUT", f"/api/v1/demandes/{d['id']}/steps/demandeur", {"data": {"adresse": {
                    "street": "1 rue Haute", "postcode": "78000", "city": "Versailles"}}})
                c.call("PUT", f"/api/v1/demandes/{d['id']}/steps/acte", {"data": {
                    "pour_qui": "moi", "date_naissance": "1990-01-01", "type_acte": "copie_integrale", "nombre": 1}})
                out.append(time.perf_counter() - t)
                ids.append(d["id"])
            drafts[k] = ids
            return out

        lat, wall = concurrent(port, tokens, prepare)  # type: ignore[arg-type]
        print(fmt("create + 2 steps (3 requests), concurrent", lat, wall))
        # the pieces go straight into the database: this measure is about submitting
        from guichet_common.db import make_engine
        from guichet_demarches.models import Attachment
        from sqlalchemy import insert

        engine = make_engine(env.db_urls["demarches"])
        with engine.begin() as conn:
            conn.execute(insert(Attachment), [{"id": uuid.uuid4().hex, "demande_id": did, "requirement": "piece_identite",
                                               "filename": "cni.pdf", "shared_id": uuid.uuid4().hex,
                                               "content_type": "application/pdf", "size": 1000, "source": "upload",
                                               "created_at": datetime.now(UTC)} for ids in drafts.values() for did in ids])
        engine.dispose()

        def submit(c: Client, k: int) -> list[float]:
            return [timed(c, "POST", f"/api/v1/demandes/{did}/submit", None, {"Idempotency-Key": uuid.uuid4().hex})
                    for did in drafts[k]]

        # one citizen alone first: the cost of a submission without queueing
        alone = drafts[0][: max(1, args.submits // 3)]
        drafts[0] = drafts[0][len(alone):]
        c0 = Client(port, tokens[0])
        lat = [timed(c0, "POST", f"/api/v1/demandes/{did}/submit", None, {"Idempotency-Key": uuid.uuid4().hex})
               for did in alone]
        print(fmt("POST /demandes/{id}/submit, 1 citizen at a time", lat))

        spies = profile(args.profile, env, gw) if args.profile else []
        mails_before = len(list(env.mail.dir.glob("*.eml")))
        cpu_before = cpu_by_process(env, gw)
        client_before = sum(os.times()[:2])
        lat, wall = concurrent(port, tokens, submit)  # type: ignore[arg-type]
        client_cpu = sum(os.times()[:2]) - client_before
        # the window ends once every submission's mail is out (notify may lag behind)
        burst_end = time.monotonic()
        deadline = burst_end + 60
        while len(list(env.mail.dir.glob("*.eml"))) < mails_before + len(lat) and time.monotonic() < deadline:
            time.sleep(0.05)
        mail_lag = time.monotonic() - burst_end
        time.sleep(0.3)
        cpu_after = cpu_by_process(env, gw)
        for spy in spies:
            spy.send_signal(2)  # py-spy writes its file on SIGINT
            spy.wait(30)
        print(fmt(f"POST /demandes/{{id}}/submit, {args.citizens} citizens (goal p95 < 300 ms)", lat, wall))
        print(f"notification mails: the last one out {mail_lag:.2f} s after the last submission's answer")
        spent = {k: cpu_after[k] - cpu_before.get(k, 0.0) for k in cpu_after}
        per = ", ".join(f"{k} {1000 * v / len(lat):.1f}" for k, v in sorted(spent.items(), key=lambda kv: -kv[1]) if v > 0)
        print(f"CPU per submission (ms, whole pipeline incl. notifications): {1000 * sum(spent.values()) / len(lat):.1f}"
              f" = {per}")
        # The clients run on the same 2 cores: what they use is not left for the stack.
        print(f"the bench's own {args.citizens} HTTP clients used {1000 * client_cpu / len(lat):.1f} ms of CPU "
              "per submission on the same cores")
        db = "PostgreSQL" if env.use_pg else "SQLite"
        print(f"machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f}; database {db}; "
              f"démarches processes: {args.demarches_replicas}")
    finally:
        if gw is not None:
            gw.terminate()
            gw.wait(10)
        env.close()
        s3.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
