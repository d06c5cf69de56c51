"""Send benchmark: one approved 30-item edition to 100,000 subscribers over SMTP.

    python benchmarks/send.py [--subscribers 100000] [--connections 4] [--db URL]
                              [--dkim-subscribers 20000]

The subscribers choose random sets of 0-3 of 12 topics (none: everything). `digest send` runs
in a process of its own, from the approved edition to the last message accepted, against
Postfix's `smtp-sink` on loopback; its wall time and peak memory are reported. The reference,
measured in the same run against a fresh sink, is Postfix's `smtp-source` sending messages of
the same size over the same number of connections. A second, smaller run signs every message
with DKIM (RSA-2048). Needs Debian's `postfix` package (installed when missing, as root).
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import insert, select

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
from ingest import WORDS  # noqa: E402  (the same vocabulary as the ingest benchmark)

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


def reference(messages: int, size: int, connections: int) -> float:
    """smtp-source's rate in messages a second, `messages` of `size` bytes."""
    with sink() as port:
        started = time.perf_counter()
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
        return messages / (time.perf_counter() - started)


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
    from digest.editions.message import MailSettings, MessageTemplate, archive_url
    from digest.editions.render import render_cut
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
) -> tuple[float, int]:
    """Run `digest send`; its wall time (seconds) and peak memory (MB)."""
    started = time.perf_counter()
    process = subprocess.Popen(
        [sys.executable, "-m", "digest", "--config", str(config), "--db", database_url,
         "send", str(edition_id)],
        env={**os.environ, **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )  # fmt: skip
    output = process.stdout.read().decode()
    _, status, usage = os.wait4(process.pid, 0)
    took = time.perf_counter() - started
    if status != 0:
        sys.exit(f"digest send failed:\n{output}")
    lines = output.strip().splitlines()
    print("   ", lines[0])
    print("   ", lines[-1])
    return took, usage.ru_maxrss // 1024


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
    url: str | None, folder: Path, subscribers: int, connections: int, dkim: bool
) -> dict[str, float]:
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
            took, peak = send(database_url, edition_id, env, config)
    return {"seconds": took, "rate": subscribers / took, "peak_mb": peak, "size": size}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--subscribers", type=int, default=100_000)
    parser.add_argument("--dkim-subscribers", type=int, default=20_000)
    parser.add_argument("--connections", type=int, default=4)
    parser.add_argument("--db", help="a PostgreSQL URL (default: a SQLite file)")
    args = parser.parse_args()
    require_postfix()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        print(f"Sending to {args.subscribers:,} subscribers over {args.connections} connections")
        plain = run(args.db, folder, args.subscribers, args.connections, dkim=False)
        ref_messages = min(args.subscribers, 20_000)
        ref = reference(ref_messages, plain["size"], args.connections)
        signed = {}
        if args.dkim_subscribers:
            print(f"With DKIM (RSA-2048), to {args.dkim_subscribers:,} subscribers")
            signed = run(args.db, folder, args.dkim_subscribers, args.connections, dkim=True)
    print()
    print(f"Mean message size            {plain['size']:>10,} bytes")
    print(f"Reference (smtp-source)      {ref:>10,.0f} messages/s ({ref_messages:,} messages)")
    print(
        f"Digest send                  {plain['rate']:>10,.0f} messages/s  "
        f"{plain['rate'] / ref:.2f}x the reference, {plain['seconds']:.1f} s, "
        f"peak {plain['peak_mb']} MB"
    )
    if signed:
        print(
            f"Digest send with DKIM        {signed['rate']:>10,.0f} messages/s  "
            f"{signed['rate'] / ref:.2f}x the reference, {signed['seconds']:.1f} s, "
            f"peak {signed['peak_mb']} MB"
        )


if __name__ == "__main__":
    main()
