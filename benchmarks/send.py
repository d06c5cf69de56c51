"""Send benchmark: one approved 30-item edition to 100,000 subscribers over SMTP.

    python benchmarks/send.py [--subscribers 100000] [--connections 4] [--db URL]
                              [--dkim-subscribers 20000] [--scale-out-subscribers N]

The subscribers choose random sets of 0-3 of 12 topics (none: everything). `digest send` runs
as the user runs it (on PostgreSQL, with the worker processes it starts, one per core), from
the approved edition to the last message accepted, against Postfix's `smtp-sink` on loopback;
its wall time, and the peak memory and CPU time of all its processes, are reported. The reference,
measured in the same run (after each case, against a fresh sink), is Postfix's `smtp-source`
sending messages of the same size over the same number of connections. A second, smaller run
signs every message with DKIM (RSA-2048). On PostgreSQL, the scale-out: the edition queued,
then one `digest worker`, and then two at once on a fresh copy, each with its own connections;
their total rate, and each one's share. Needs Debian's `postfix` package (installed when
missing, as root; else `sudo apt-get install postfix`).
"""

from __future__ import annotations

import argparse
import os
import random
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import insert, select

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
from ingest import WORDS  # noqa: E402  (the same vocabulary as the ingest benchmark)
from peak import TreePeak, machine_cpu  # noqa: E402

TOPICS = 12
ITEMS = 30
SENDER, RECIPIENT = "bench@digest.example.org", "reader@example.org"


def require_postfix() -> None:
    if shutil.which("smtp-sink") or Path("/usr/sbin/smtp-sink").exists():
        return
    if os.geteuid() != 0:
        sys.exit("Postfix's smtp-sink is missing: run 'sudo apt-get install postfix'")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    subprocess.run(["apt-get", "install", "-y", "-qq", "postfix"], check=True, env=env)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextmanager
def sink() -> object:
    """Postfix's smtp-sink on loopback: accepts everything, keeps nothing."""
    port = free_port()
    process = subprocess.Popen(
        ["smtp-sink", "-u", "nobody", f"127.0.0.1:{port}", "1000"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            time.sleep(0.05)
    try:
        yield port
    finally:
        process.terminate()
        process.wait()


def reference(messages: int, size: int, connections: int) -> tuple[float, float]:
    """smtp-source's rate in messages a second, `messages` of `size` bytes, and the machine's
    CPU time a message (ms): smtp-source's and the sink's."""
    with sink() as port:
        started, busy = time.perf_counter(), machine_cpu()
        subprocess.run(
            [
                "smtp-source",
                "-s", str(connections),
                "-m", str(messages),
                "-l", str(size),
                "-f", SENDER,
                "-t", RECIPIENT,
                f"127.0.0.1:{port}",
            ],
            check=True,
            stdout=subprocess.DEVNULL,
        )  # fmt: skip
        took, after = time.perf_counter() - started, machine_cpu()
        return messages / took, (after[0] - busy[0]) * 1000 / messages


def prepare(database_url: str, subscribers: int, transport: str | None) -> int:
    """A database with an approved edition and its subscribers; returns the edition's id."""
    from digest.config import load_config, sync_config
    from digest.db import make_engine, session_factory, transaction, upgrade_schema
    from digest.editions import compose
    from digest.ingest import dedup
    from digest.models import (
        Feed,
        Item,
        ItemSource,
        ItemStatus,
        Newsletter,
        Placement,
        PlacementTopic,
        Subscriber,
        SubscriberStatus,
        Subscription,
        SubscriptionTopic,
        Topic,
        TopicSource,
    )
    from digest.timeutil import utcnow

    rng = random.Random(5)
    engine = make_engine(database_url)
    upgrade_schema(engine)
    factory = session_factory(engine)
    with transaction(factory) as session:
        sync_config(session, load_config(ROOT / "feeds.yaml"))
        newsletter = session.scalar(select(Newsletter).where(Newsletter.slug == "caspar"))
        newsletter.transport = transport
        feed = session.scalar(select(Feed).where(Feed.newsletter_id == newsletter.id))
        topic_ids = list(session.scalars(select(Topic.id).order_by(Topic.id)))[:TOPICS]
        now = utcnow()
        for n in range(ITEMS):
            title = f"{' '.join(rng.choices(WORDS, k=8)).capitalize()} ({n})"
            summary = ". ".join(
                " ".join(rng.choices(WORDS, k=14)).capitalize() for _ in range(3)
            )
            url = f"https://publisher.example.org/reports/{n}"
            item = Item(
                link=url,
                canonical_url=url,
                url_key=dedup.url_key(url),
                title=title,
                title_key=dedup.title_key(title),
                published=now,
                summary_html=f"<p>{summary}.</p>",
                summary_text=summary + ".",
                content_hash=dedup.content_hash(title, summary),
            )
            item.sources.append(
                ItemSource(feed_id=feed.id, entry_key=dedup.entry_key(None, url, ""), link=url)
            )
            placement = Placement(
                newsletter_id=newsletter.id,
                section_id=newsletter.sections[n % len(newsletter.sections)].id,
                status=ItemStatus.ACCEPTED,
                published=now,
            )
            placement.topic_links = [
                PlacementTopic(topic_id=t, source=TopicSource.MANUAL)
                for t in rng.sample(topic_ids, rng.randint(1, 2))
            ]
            item.placements.append(placement)
            session.add(item)
        session.flush()
        edition = compose.build_draft(session, newsletter, "bench")
        compose.approve(session, edition, "bench")
        edition_id, newsletter_id = edition.id, newsletter.id
    for start in range(0, subscribers, 20_000):
        count = min(20_000, subscribers - start)
        with transaction(factory) as session:
            ids = range(start + 1, start + count + 1)
            session.execute(
                insert(Subscriber),
                [{"id": i, "email": f"reader{i}@example.org", "name": f"Reader {i}"} for i in ids],
            )
            session.execute(
                insert(Subscription),
                [
                    {
                        "id": i,
                        "subscriber_id": i,
                        "newsletter_id": newsletter_id,
                        "status": SubscriberStatus.ACTIVE,
                    }
                    for i in ids
                ],
            )
            links = [
                {"subscription_id": i, "topic_id": t}
                for i in ids
                for t in rng.sample(topic_ids, rng.randint(0, 3))
            ]
            session.execute(insert(SubscriptionTopic), links)
    if engine.dialect.name == "postgresql":
        with engine.begin() as connection:
            for table in ("subscribers", "subscriptions"):
                connection.exec_driver_sql(
                    f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                    f"(SELECT max(id) FROM {table}))"
                )
            connection.exec_driver_sql("ANALYZE")
    engine.dispose()
    return edition_id


def message_size(database_url: str, edition_id: int) -> int:
    """The mean size of a sample of the messages the subscribers will get."""
    from digest.db import make_engine, session_factory
    from digest.editions.message import MessageTemplate, archive_url
    from digest.editions.render import render_cut
    from digest.mailsettings import MailSettings
    from digest.models import Edition, Subscription

    factory = session_factory(make_engine(database_url))
    settings = MailSettings("https://digest.example.org")
    sizes = []
    with factory() as session:
        edition = session.get(Edition, edition_id)
        for subscription in session.scalars(select(Subscription).limit(200)):
            topics = frozenset(t.slug for t in subscription.topics)
            rendered = render_cut(edition, topics, archive_url(edition, settings))
            raw = MessageTemplate(edition, rendered, settings).bytes_for(
                subscription.id, subscription.link_secret, subscription.subscriber.email, "", ["k"]
            )
            sizes.append(len(raw))
    return sum(sizes) // len(sizes)


def send(
    database_url: str, edition_id: int, env: dict[str, str], config: Path
) -> tuple[float, int, float, list[int]]:
    """Run `digest send`; its wall time (seconds), the peak memory (MB) and CPU time (seconds)
    of all its processes, and how many messages each process sent (when there were several)."""
    started = time.perf_counter()
    process = subprocess.Popen(
        [sys.executable, "-m", "digest", "--config", str(config), "--db", database_url,
         "send", str(edition_id)],
        env={**os.environ, **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )  # fmt: skip
    peak = TreePeak(process.pid)
    output = process.stdout.read().decode()
    _, status, usage = os.wait4(process.pid, 0)
    took = time.perf_counter() - started
    if status != 0:
        sys.exit(f"digest send failed:\n{output}")
    lines = output.strip().splitlines()
    for line in lines:
        if not line.startswith("Sending"):  # the progress bar
            print("   ", line)
    # "The 2 processes recorded 50,123 and 49,877 outcomes."
    recorded = re.search(r"recorded ([\d, and]+) outcomes", output)
    shares = [int(n.replace(",", "")) for n in recorded[1].split(" and ")] if recorded else []
    # wait4's CPU time includes the children it waited for: all of the command's processes.
    return took, peak.stop(), usage.ru_utime + usage.ru_stime, shares


def enqueue(database_url: str, edition_id: int) -> None:
    """Start the edition's send without sending, as the scheduler does, for workers to take."""
    from digest.db import make_engine, session_factory, transaction
    from digest.delivery import queue
    from digest.models import Edition

    engine = make_engine(database_url)
    with transaction(session_factory(engine)) as session:
        queue.start(session, session.get(Edition, edition_id), "bench")
    engine.dispose()


def workers(
    database_url: str, count: int, env: dict[str, str], config: Path
) -> tuple[float, int, float, list[int]]:
    """Run `count` `digest worker --until-idle` processes at once on the queued edition: the
    wall time until the last stops (seconds), their peak memories (MB) and CPU times
    (seconds) summed, and how many messages each sent."""
    command = [sys.executable, "-m", "digest", "--config", str(config), "--db", database_url,
               "worker", "--until-idle", "--name"]  # fmt: skip
    started = time.perf_counter()
    processes = [
        subprocess.Popen(
            [*command, f"bench-{n}"],
            env={**os.environ, **env},
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        for n in range(1, count + 1)
    ]
    peaks = [TreePeak(process.pid) for process in processes]
    peak, cpu, shares = 0, 0.0, []
    for process, own in zip(processes, peaks, strict=True):
        output = process.stdout.read().decode()
        _, status, usage = os.wait4(process.pid, 0)
        if status != 0:
            sys.exit(f"digest worker failed:\n{output}")
        # "Worker stopped: 50,123 sent." (with other states, were there any)
        sent = re.search(r"([\d,]+) sent", output)
        shares.append(int(sent[1].replace(",", "")) if sent else 0)
        peak += own.stop()
        cpu += usage.ru_utime + usage.ru_stime
    return time.perf_counter() - started, peak, cpu, shares


@contextmanager
def database(url: str | None, folder: Path) -> object:
    """A fresh SQLite file, or a fresh schema in the PostgreSQL database `url`."""
    if url is None:
        yield f"sqlite:///{folder / f'send-{uuid.uuid4().hex[:8]}.sqlite'}"
        return
    import psycopg

    schema = f"digest_bench_{uuid.uuid4().hex[:8]}"
    dsn = url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(dsn, autocommit=True) as connection:
        connection.execute(f'CREATE SCHEMA "{schema}"')
    try:
        separator = "&" if "?" in url else "?"
        yield f"{url}{separator}options=-csearch_path%3D{schema}"
    finally:
        with psycopg.connect(dsn, autocommit=True) as connection:
            connection.execute(f'DROP SCHEMA "{schema}" CASCADE')


def dkim_key(folder: Path) -> Path:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    path = folder / "dkim.pem"
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.TraditionalOpenSSL,
            serialization.NoEncryption(),
        )
    )
    return path


def run(
    url: str | None,
    folder: Path,
    subscribers: int,
    connections: int,
    dkim: bool = False,
    worker_processes: int = 0,
) -> dict[str, Any]:
    """`digest send` (or, with `worker_processes`, that many `digest worker`s on the queued
    edition) to `subscribers` subscribers of a fresh database, against a fresh sink."""
    config = folder / "bench.yaml"
    with sink() as port:
        mail_url = f"smtp://127.0.0.1:{port}"
        lines = [
            f"extends: {ROOT / 'feeds.yaml'}",
            "transports:",
            "  - name: bench",
            f"    url: {mail_url}",
            f"    connections: {connections}",
        ]
        if dkim:
            lines += [
                "    dkim:",
                "      domain: digest.example.org",
                "      selector: bench",
                f"      key_file: {dkim_key(folder)}",
            ]
        config.write_text("\n".join(lines) + "\n")
        with database(url, folder) as database_url:
            edition_id = prepare(database_url, subscribers, "bench")
            size = message_size(database_url, edition_id)
            env = {"DIGEST_TOKEN_KEYS": "benchmark-key", "DIGEST_BASE_URL": "https://d.example"}
            shares: list[int] = []
            busy = machine_cpu()
            if worker_processes:
                enqueue(database_url, edition_id)
                took, peak, cpu, shares = workers(database_url, worker_processes, env, config)
            else:
                took, peak, cpu, shares = send(database_url, edition_id, env, config)
            after = machine_cpu()
    return {
        "seconds": took, "rate": subscribers / took, "peak_mb": peak, "size": size,
        "cpu_ms": cpu * 1000 / subscribers, "shares": shares,
        "machine_ms": (after[0] - busy[0]) * 1000 / subscribers,
        "steal": (after[1] - busy[1]) / took / (os.cpu_count() or 1),
    }  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--subscribers", type=int, default=100_000)
    parser.add_argument("--dkim-subscribers", type=int, default=20_000)
    parser.add_argument("--connections", type=int, default=4)
    parser.add_argument("--db", help="a PostgreSQL URL (default: a SQLite file)")
    parser.add_argument(
        "--scale-out-subscribers",
        type=int,
        help="subscribers for one, then two `digest worker` processes on PostgreSQL "
        "(default: --subscribers; 0: skip)",
    )
    args = parser.parse_args()
    require_postfix()
    scale_out = args.scale_out_subscribers
    scale_out = args.subscribers if scale_out is None else scale_out
    cases: list[tuple[str, int, dict[str, Any]]] = [("Digest send", args.subscribers, {})]
    if args.dkim_subscribers:
        cases.append(("Digest send with DKIM", args.dkim_subscribers, {"dkim": True}))
    if args.db and scale_out:  # SQLite has one writer: one worker at a time
        cases.append(("One digest worker", scale_out, {"worker_processes": 1}))
        cases.append(("Two digest workers", scale_out, {"worker_processes": 2}))
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        for label, subscribers, options in cases:
            print(f"{label}: {subscribers:,} subscribers, {args.connections} connections each")
            result = run(args.db, Path(tmp), subscribers, args.connections, **options)
            # Measured after each case, beside it: on a shared machine the load changes.
            messages = min(subscribers, 20_000)
            result["reference"], result["reference_machine_ms"] = reference(
                messages, result["size"], args.connections
            )
            result["load"] = os.getloadavg()[0]
            results.append((label, result))
    print()
    print(f"{'':<29}{'rate':>10}{'':13}{'reference':>12}  ratio   time    peak  CPU/msg  load")
    for label, result in results:
        ref = result["reference"]
        print(
            f"{label:<29}{result['rate']:>10,.0f} messages/s {ref:>10,.0f} /s  "
            f"{result['rate'] / ref:.2f}x {result['seconds']:>5.1f} s "
            f"{result['peak_mb']:>4} MB {result['cpu_ms']:>5.2f} ms {result['load']:>5.1f}"
        )
        if len(result["shares"]) > 1:
            shares = ", ".join(f"{n / sum(result['shares']):.0%}" for n in result["shares"])
            one = dict(results).get("One digest worker")
            than_one = f"; {result['rate'] / one['rate']:.2f}x one worker" if one else ""
            print(f"{'':<29}shares {shares}{than_one}")
    cores = os.cpu_count() or 1
    print()
    print(
        "The machine's CPU a message (every process: Digest's, PostgreSQL's, the sink's), and "
        f"the rate it allows on {cores} cores with nothing else running:"
    )
    for label, result in results:
        most = cores * 1000 / result["machine_ms"]
        print(
            f"{label:<29}{result['machine_ms']:>6.2f} ms a message: at most {most:,.0f}/s "
            f"= {most / result['reference']:.2f}x reference; the reference itself "
            f"{result['reference_machine_ms']:.2f} ms; CPU taken by the host (steal) "
            f"{result['steal']:.0%}"
        )
    print(
        f"(Mean message size {results[0][1]['size']:,} bytes. Reference: Postfix smtp-source, "
        "the same size and connections, run after each case. Peak memory and CPU time: Digest's "
        "processes, summed; load: the 1-minute load average after the case.)"
    )


if __name__ == "__main__":
    main()
