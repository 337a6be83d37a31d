"""``POST /v1/batch``: many writes in one request and one transaction.

Why: one HTTP request per call record costs the client ~5 ms and the server ~2 ms of CPU,
which caps an outbox draining a backlog at ~50-150 records/s. A batch carries up to
``BATCH_MAX_WRITES`` writes with the very semantics of their single requests (same
idempotency, same role rules, same events), and answers each one separately: a refused
write never blocks the others, so the client holds only that call.

Each write runs in its own SAVEPOINT inside the batch's one transaction: a refused write
leaves no trace, the others commit together, and websockets are woken once, after commit.
Writes are applied in the order given; once a write of a call failed, the later writes of
the same call in this batch are not attempted (424 ``earlier_write_failed``), so a batch
never reorders what a call goes through. ``Prefer: return=minimal`` leaves the records out
of the results (status and error only), for clients that only need the outcome.
"""

from __future__ import annotations

import uuid
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from crmclient.models import (
    BATCH_MAX_WRITES,
    BatchOp,
    BatchResult,
    BatchWrite,
    CallRecord,
    ErrorBody,
    User,
)
from crmclient.server.common import json_response, keyed_write, me, state_of
from crmclient.server.db import tx
from crmclient.server.problems import Problem, invalid, parse_model, read_json
from crmclient.server.routes_calls import (
    _validate_create,
    apply_update,
    insert_new_call,
    visible_call,
)
from crmclient.server.routes_chats import check_card, insert_card
from crmclient.server.state import State


def _error(status: int, code: str, message: str, details: Any = None) -> BatchResult:
    body = ErrorBody(code, message, status, details, uuid.uuid4().hex[:16])
    return BatchResult(status, error=body)


def _lane_of(raw: Any) -> str | None:
    """The call a (possibly malformed) write belongs to, to keep later writes in order."""
    if not isinstance(raw, dict):
        return None
    for key, field in (("call", "id"), ("card", "call_id")):
        inner = raw.get(key)
        if isinstance(inner, dict) and isinstance(inner.get(field), str):
            return str(inner[field])
    call_id = raw.get("call_id")
    return call_id if isinstance(call_id, str) else None


def _apply(state: State, user: User, write: BatchWrite, raw: Any) -> BatchResult:
    """One write, exactly as its single request would do it (the caller holds the tx)."""
    if write.op is BatchOp.CALL_CREATE:
        assert write.call is not None
        _validate_create(state, user, write.call)
        status, call = insert_new_call(state, user, write.call)
        return BatchResult(status, call=call)
    if write.op is BatchOp.CARD_POST:
        assert write.card is not None
        check_card(state, user, write.card)
        status, card = insert_card(state, user, write.card)
        return BatchResult(status, card=card)
    assert write.call_id is not None and write.update is not None
    call_id, update = write.call_id, write.update
    visible_call(state, user, call_id)

    def apply() -> tuple[int, Any]:
        call = visible_call(state, user, call_id)
        return 200, apply_update(state, user, call, update).to_json()

    body = raw.get("update") if isinstance(raw, dict) else None
    status, data = keyed_write(
        state,
        user,
        key=write.idempotency_key,
        target=f"PATCH /v1/calls/{call_id}",
        body=body,
        write=apply,
    )
    if status >= 300:  # a stored answer is always a success, but stay honest
        return _error(status, "stored_error", "this write failed before")
    return BatchResult(status, call=CallRecord.from_json(data))


def _attempt(state: State, user: User, write: BatchWrite, raw: Any, index: int) -> BatchResult:
    name = f"w{index}"
    state.db.execute(f"SAVEPOINT {name}")
    try:
        result = _apply(state, user, write, raw)
    except Problem as exc:
        state.db.execute(f"ROLLBACK TO {name}")
        state.db.execute(f"RELEASE {name}")
        return _error(exc.status, exc.code, exc.message, exc.details)
    except Exception:
        state.db.execute(f"ROLLBACK TO {name}")
        state.db.execute(f"RELEASE {name}")
        return _error(500, "server_error", "the server failed on this write; try again later")
    state.db.execute(f"RELEASE {name}")
    return result


async def write_batch(request: Request) -> Response:
    state = state_of(request)
    user = me(request)
    body = await read_json(request, state.config.max_json_bytes)
    raw_writes = body.get("writes") if isinstance(body, dict) else None
    if not isinstance(raw_writes, list):
        raise invalid('expected {"writes": [...]}', field="writes")
    if not 0 < len(raw_writes) <= BATCH_MAX_WRITES:
        raise invalid(f"writes: expected 1-{BATCH_MAX_WRITES} items", field="writes")
    results: list[BatchResult] = []
    failed_lanes: set[str] = set()
    with tx(state.db):
        for index, raw in enumerate(raw_writes):
            lane = _lane_of(raw)
            if lane is not None and lane in failed_lanes:
                results.append(
                    _error(
                        424,
                        "earlier_write_failed",
                        f"not attempted: an earlier write of call {lane} in this batch failed",
                    )
                )
                continue
            try:
                write = parse_model(BatchWrite, raw)
            except Problem as exc:
                result = _error(exc.status, exc.code, f"writes[{index}]: {exc.message}")
            else:
                result = _attempt(state, user, write, raw, index)
            if not result.ok and lane is not None:
                failed_lanes.add(lane)
            results.append(result)
    state.notify()
    if "return=minimal" in request.headers.get("prefer", ""):
        # The outbox needs only the outcome: skip encoding every record (RFC 7240).
        results = [BatchResult(r.status, error=r.error) for r in results]
    return json_response({"results": [r.to_json() for r in results]})
