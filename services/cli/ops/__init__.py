"""``supervision ops``: where the work is and why it is stuck, for whoever is on duty.

* ``status``: one row per service, from every source at once: its readiness (``/readyz``, or the
  gRPC health service for tracking), its outbox backlog (its database), its consumer group's lag
  (committed offsets against end offsets), the dead letters its consumer set aside, and, for
  tracking, the overdue cases by the level of the agency that owes the answer. A source that does
  not answer is shown as such, with why.
* ``dlq list``: the queue of dead letters no operator has handled yet, with the reason the
  consumer gave (``dlq_*`` headers); ``--handled`` shows the handled ones too, and how.
* ``dlq inspect``: one dead letter whole (key, headers, value, copies, mark).
* ``dlq replay``: publishes chosen dead letters to their topic again, once their cause is fixed,
  and marks them handled.
* ``dlq mark-handled``: takes dead letters out of the queue without a replay, saying why;
  ``dlq reopen`` puts them back.

Addresses come from the variables the services read, through the services' own settings classes
(``SUPERVISION_{SUBMISSION,DISCLOSURE}_HTTP_HOST/PORT``, ``SUPERVISION_TRACKING_GRPC_HOST/PORT``,
``SUPERVISION_KAFKA_BOOTSTRAP_SERVERS``, ``SUPERVISION_*_DATABASE_URL``, with their defaults), and
each consumer group and its topics from the service's own subscription; without a database URL
or Kafka's address, ``ops`` looks where ``make run`` puts them (``infra/bin/defaults``).

A dead letter is a work item. It stays in its ``.dlq`` for ever (the history), and leaves the
queue once marked handled on ``ops.dead-letters.handled``: a compacted topic, one record per dead
letter (keyed by ``<dlq>:<partition>:<offset>``: who, when, why, and where its replay went), so
every operator reads the same queue. A replay is published, then marked; a dead letter handled
before is refused unless ``--again``. The replayed message carries a ``replay_of`` header naming
the dead letter, so that Kafka itself shows what was a replay (and a replay that fails again says
so in ``dlq list``). A replay is applied at most once even if it is published twice (by two
operators at once, or again after a replay cut short before its mark): the consumers' inbox drops
an event id it has applied.

Exit codes: 0 done (``status``: every service ready and every source answered); 1 something is
not ready, a source did not answer, or a replay was refused or declined; 2 nothing matched, or
the command line or the environment is wrong.
"""

from __future__ import annotations

import typer

from services.cli.ops import dlq, replay, status

app = typer.Typer(no_args_is_help=True, help="Where submissions are, and why they are stuck.")
dlq_app = typer.Typer(
    no_args_is_help=True,
    help="Dead-lettered events as work items: list, inspect, replay, mark handled.",
)
app.add_typer(dlq_app, name="dlq")
app.command()(status.status)
dlq_app.command("list")(dlq.list_dead_letters)
dlq_app.command("inspect")(dlq.inspect)
dlq_app.command("replay")(replay.replay)
dlq_app.command("mark-handled")(dlq.mark_handled_command)
dlq_app.command("reopen")(dlq.reopen)
