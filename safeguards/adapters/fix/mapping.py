"""Which canonical event a FIX message is: message types, ExecType (150), OrdStatus (39), multileg legs.

* ExecutionReport (35=8) -> broker event from ExecType (150): 0 new, A pending_new,
  6 pending_cancel, 4 canceled, E pending_replace, 5 replaced, 8 rejected, C expired,
  3 done_for_day; trades are 1/2 in the 4.2 style and F in the 4.4 style (F is
  ``fill`` when OrdStatus 39=2, else ``partial_fill``). Without 150 (FIX 4.0/4.1), or
  for a trade ExecType with no LastQty (32) above zero, OrdStatus decides. Status
  reports (20=3, 150=I), stopped, suspended, restated and calculated reports have no
  canonical type: rejected rows with that reason, never dropped.
* Trade busts and corrections (4.2: ExecTransType 20=1/2; 4.4: ExecType 150=H/G) are
  rejected rows too, with what they leave wrong: a bust takes quantity back (``cum_qty``
  would go down, which the engine reads as stale), a correction rewrites an earlier
  fill. Mapped as fills they would be silently misread.
* Ours: NewOrderSingle (D) and NewOrderMultileg (AB) -> ``submit`` (one per leg);
  OrderCancelRequest (F) -> ``cancel_request``; OrderCancelReplaceRequest (G) and
  MultilegOrderCancelReplace (AC) -> ``replace_request`` (with the new OrderQty).
  The broker's OrderCancelReject (9) -> ``cancel_rejected``; MarketDataSnapshot (W)
  with a bid and an offer -> ``quote``.
"""

from __future__ import annotations

SESSION_TYPES = {"0": "Heartbeat", "1": "TestRequest", "2": "ResendRequest", "3": "Reject",
                 "4": "SequenceReset", "5": "Logout", "A": "Logon"}
MESSAGE_NAMES = {"8": "ExecutionReport", "9": "OrderCancelReject", "D": "NewOrderSingle",
                 "F": "OrderCancelRequest", "G": "OrderCancelReplaceRequest", "j": "BusinessMessageReject",
                 "AB": "NewOrderMultileg", "AC": "MultilegOrderCancelReplace", "W": "MarketDataSnapshotFullRefresh",
                 "AE": "TradeCaptureReport", "AR": "TradeCaptureReportAck", **SESSION_TYPES}
#: Messages we send: their SenderCompID (49) is ours.
OUTBOUND = {"D": "submit", "AB": "submit", "F": "cancel_request", "G": "replace_request", "AC": "replace_request"}
#: Message types read into events (or followed, as the session messages are).
READ = frozenset({"8", "9", "W", *OUTBOUND, *SESSION_TYPES})

EXEC_TYPES = {"0": "new", "A": "pending_new", "6": "pending_cancel", "4": "canceled", "E": "pending_replace",
              "5": "replaced", "8": "rejected", "C": "expired", "1": "partial_fill", "2": "fill",
              "3": "done_for_day"}
UNMAPPED_EXEC_TYPES = {"7": "stopped", "9": "suspended", "B": "calculated", "D": "restated", "I": "order status"}
ORD_STATUS_TYPES = {"0": "new", "1": "partial_fill", "2": "fill", "3": "done_for_day", "4": "canceled",
                    "5": "replaced", "6": "pending_cancel", "8": "rejected", "A": "pending_new", "C": "expired",
                    "E": "pending_replace"}
EXEC_TRANS_TYPES = {"3": "status"}  # 1 and 2, bust and correction: trade_amendment_reason
SIDES = {"1": "buy", "2": "sell", "3": "buy", "4": "sell", "5": "sell", "6": "sell"}
FILL_TYPES = ("fill", "partial_fill")

#: canonical numeric field <- (tag, tag name)
NUMBER_TAGS = {"qty": ("38", "OrderQty"), "limit_px": ("44", "Price"), "last_qty": ("32", "LastQty"),
               "last_px": ("31", "LastPx"), "cum_qty": ("14", "CumQty"), "leaves_qty": ("151", "LeavesQty")}

#: A leg of NoLegs (555): canonical field <- tag.
LEG_TAGS = {"leg": "654", "symbol": "600", "side": "624", "ratio": "623", "qty": "687", "limit_px": "566"}


def execution_type(fields: dict[str, str]) -> tuple[str | None, str]:
    """The canonical broker type of an ExecutionReport, or None and the reason to reject it."""
    trans = fields.get("20")
    exec_type = fields.get("150")
    status = fields.get("39")
    if trans in ("1", "2") or exec_type in ("H", "G"):
        return None, trade_amendment_reason(trans, exec_type)
    if trans in EXEC_TRANS_TYPES:
        return None, f"ExecutionReport with ExecTransType 20={trans} ({EXEC_TRANS_TYPES[trans]}) has no canonical event type"
    if exec_type in ("1", "2", "F") and _float_or_zero(fields.get("32")) <= 0 and status in ORD_STATUS_TYPES:
        return ORD_STATUS_TYPES[status], ""  # a "trade" that traded nothing: OrdStatus says what it is
    if exec_type == "F":
        return ("fill" if status == "2" else "partial_fill"), ""
    if exec_type in EXEC_TYPES:
        return EXEC_TYPES[exec_type], ""
    if exec_type in UNMAPPED_EXEC_TYPES:
        return None, (f"ExecutionReport with ExecType 150={exec_type} ({UNMAPPED_EXEC_TYPES[exec_type]}) "
                      f"has no canonical event type")
    if exec_type is None and status in ORD_STATUS_TYPES:
        return ORD_STATUS_TYPES[status], ""
    return None, f"ExecutionReport with ExecType 150={exec_type} and OrdStatus 39={status} has no canonical event type"


def trade_amendment_reason(trans: str | None, exec_type: str | None) -> str:
    """Why a trade bust or correction is rejected, and what that leaves wrong in the events."""
    tag = f"ExecTransType 20={trans}" if trans in ("1", "2") else f"ExecType 150={exec_type}"
    if trans == "1" or (trans != "2" and exec_type == "H"):
        return (f"trade bust ({tag}) has no canonical event type: the fill it cancels (ExecRefID 19) "
                f"still counts in the order's cum_qty")
    return (f"trade correction ({tag}) has no canonical event type: the fill it corrects (ExecRefID 19) "
            f"keeps its first quantity and price")


def legs(pairs: list[list[str]]) -> list[dict[str, str]]:
    """The entries of the NoLegs (555) group, each by canonical name (see LEG_TAGS); [] without one."""
    tags = {tag: name for name, tag in LEG_TAGS.items()}
    entries: list[dict[str, str]] = []
    first: str | None = None
    inside = False
    for tag, value in pairs:
        if tag == "555":
            inside, first = True, None
            continue
        if not inside:
            continue
        if first is None:
            first = tag
        if tag == first:
            entries.append({})
        if tag in tags:
            entries[-1].setdefault(tags[tag], value)
    return entries


def quote_sides(pairs: list[list[str]]) -> dict[str, str]:
    """A MarketDataSnapshot's best bid and offer: MDEntryType (269) 0/1 with MDEntryPx (270) and MDEntrySize (271)."""
    sides: dict[str, str] = {}
    entry: str | None = None
    for tag, value in pairs:
        if tag == "269":
            entry = {"0": "bid", "1": "ask"}.get(value)
        elif entry is not None and tag in ("270", "271"):
            sides.setdefault(f"{entry}_{'px' if tag == '270' else 'qty'}", value)
    return sides


def _float_or_zero(text: str | None) -> float:
    try:
        return float(text) if text else 0.0
    except ValueError:
        return 0.0
