"""``supervision ops``: where the work is and why it is stuck, for whoever is on duty.

* ``status``: one row per service, from every source at once: its readiness (``/readyz``, or the
  gRPC health service for tracking), its outbox backlog (its database), its consumer group's lag
  (committed offsets against end offsets), the dead letters its consumer set aside, and, for
  tracking, the overdue cases by the level of the agency that owes the answer. A source that does
  not answer is shown as such, with why.
* ``dlq list``: the dead letters, with the reason the consumer gave (``dlq_*`` headers).
* ``dlq replay``: publishes chosen dead letters to their topic again, once their cause is fixed.

Addresses come from the variables the services read, through the services' own settings classes
(``SUPERVISION_{SUBMISSION,DISCLOSURE}_HTTP_HOST/PORT``, ``SUPERVISION_TRACKING_GRPC_HOST/PORT``,
``SUPERVISION_KAFKA_BOOTSTRAP_SERVERS``, ``SUPERVISION_*_DATABASE_URL``, with their defaults), and
each consumer group and its topics from the service's own subscription; without a database URL
or Kafka's address, ``ops`` looks where ``make run`` puts them (``infra/bin/defaults``).

Replays are recorded in ``$SUPERVISION_RUN_DIR/replayed.jsonl`` (``.run`` by default), one line
per dead letter, written once Kafka has acknowledged it, under a file lock: a dead letter already
replayed is refused unless ``--again``. The replayed message also carries a ``replay_of`` header
naming the dead letter, so that Kafka itself shows what was a replay (and a replay that fails
again says so in ``dlq list``). A replay is applied at most once even if it is published twice:
the consumers' inbox drops an event id it has applied.

Exit codes: 0 done (``status``: every service ready and every source answered); 1 something is
not ready, a source did not answer, or a replay was refused or declined; 2 nothing matched, or
the command line or the environment is wrong.
"""

from __future__ import annotations

import typer

from services.cli.ops import dlq, replay, status

app = typer.Typer(no_args_is_help=True, help="Where submissions are, and why they are stuck.")
dlq_app = typer.Typer(no_args_is_help=True, help="Dead-lettered events: list and replay.")
app.add_typer(dlq_app, name="dlq")
app.command()(status.status)
dlq_app.command("list")(dlq.list_dead_letters)
dlq_app.command("replay")(replay.replay)
