"""The local endpoint's status page at ``/``: plain HTML that reloads itself every few seconds.

For an integrator watching the jtel daemon: the last calls with their rows, Task and link status,
the quarantine, and how many answers of each code were given. Read-only, no JavaScript; answered to
loopback clients only (it shows call data and has no login).
"""

from __future__ import annotations

from collections import Counter
from html import escape
from typing import Any

from .store import CALL, QUARANTINE, Store

REFRESH_SECONDS = 2
LAST_CALLS = 20
LAST_QUARANTINED = 20

_STYLE = """
body { font: 14px/1.4 system-ui, sans-serif; margin: 1.5em; color: #222; }
h1 { font-size: 1.3em; } h2 { font-size: 1.1em; margin-top: 1.5em; }
table { border-collapse: collapse; margin: .3em 0 1em; }
th, td { border: 1px solid #ccc; padding: .2em .5em; text-align: left; vertical-align: top; }
th { background: #f2f2f2; } .rows td { font-size: 12px; color: #444; }
.written, .duplicate, .batch { color: #176b2c; } .not_found { color: #8a5a00; }
.rejected, .error { color: #a4161a; } .retry { color: #0b4f8a; } code { font-size: 12px; }
"""


def _cell(value: Any) -> str:
    return "<td>" + ("" if value is None else escape(str(value))) + "</td>"


def _number(value: Any) -> str:
    return str(int(value)) if isinstance(value, float) and value.is_integer() else str(value)


def render(store: Store, *, base_url: str, answers: Counter[tuple[str, str]], served: int) -> str:
    calls = store.recent(CALL, LAST_CALLS)
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f'<meta http-equiv="refresh" content="{REFRESH_SECONDS}">',
        "<title>jtel-sf local endpoint</title>",
        f"<style>{_STYLE}</style></head><body>",
        "<h1>jtel-sf local endpoint</h1>",
        f'<p id="summary">{escape(base_url)} &middot; {served} API requests served &middot; '
        f"{store.count(CALL)} calls, {store.count('JtelCallRow__c')} rows, {store.count('Task')} Tasks, "
        f"{store.count(QUARANTINE)} quarantined &middot; reloads every {REFRESH_SECONDS} s</p>",
        "<h2>Answers</h2>",
        '<table id="answers"><tr><th>status</th><th>code</th><th>count</th></tr>',
    ]
    for (status, code), count in sorted(answers.items()):
        parts.append(f'<tr class="{escape(status)}">{_cell(status)}{_cell(code)}{_cell(count)}</tr>')
    parts.append("</table>")
    parts.append("<h2>Last calls</h2>")
    parts.append(
        '<table id="calls"><tr><th>call</th><th>rows</th><th>direction</th><th>result</th><th>agents</th>'
        "<th>link</th><th>record</th><th>Task</th><th>last change</th></tr>"
    )
    for call in calls:
        task = store.get(str(call["TaskId__c"]), "Task") if call.get("TaskId__c") else None
        task_text = f"{call['TaskId__c']}: {task[1].get('Subject')}" if task else "none"
        parts.append(
            f'<tr class="call" data-call="{escape(str(call.get("CallKey__c")))}">'
            + _cell(call.get("CallKey__c"))
            + _cell(_number(call.get("RowCount__c")))
            + _cell(call.get("Direction__c"))
            + _cell(call.get("Result__c"))
            + _cell(call.get("AgentsTried__c"))
            + _cell(call.get("LinkStatus__c"))
            + _cell(call.get("SalesforceRecordId__c"))
            + _cell(task_text)
            + _cell(call.get("LastModifiedDate"))
            + "</tr>"
        )
        rows = store.children(str(call["Id"]))
        if rows:
            inner = [
                '<table class="rows"><tr><th>row key</th><th>agent</th><th>group</th><th>CONNRES</th>'
                "<th>answer</th><th>link</th><th>agent user</th></tr>"
            ]
            for row in rows:
                inner.append(
                    "<tr>"
                    + f"<td><code>{escape(str(row.get('RowKey__c', ''))[:12])}</code></td>"
                    + _cell(row.get("AgentUID__c"))
                    + _cell(row.get("AcdAgentGroupsName__c"))
                    + _cell(_number(row.get("CONNRES__c")) if row.get("CONNRES__c") is not None else None)
                    + _cell(row.get("AnswerCode__c"))
                    + _cell(row.get("LinkStatus__c"))
                    + _cell(row.get("AgentUser__c"))
                    + "</tr>"
                )
            inner.append("</table>")
            parts.append('<tr class="rows"><td colspan="9">' + "".join(inner) + "</td></tr>")
    parts.append("</table>")
    parts.append("<h2>Quarantine</h2>")
    parts.append(
        '<table id="quarantine"><tr><th>body key</th><th>reason</th><th>code</th><th>call</th>'
        "<th>attempts</th><th>status</th><th>last received</th></tr>"
    )
    for held in store.recent(QUARANTINE, LAST_QUARANTINED):
        parts.append(
            "<tr>"
            + f"<td><code>{escape(str(held.get('BodyKey__c', ''))[:12])}</code></td>"
            + _cell(held.get("Reason__c"))
            + _cell(held.get("ErrorCode__c"))
            + _cell(held.get("StatisticsPartAID__c"))
            + _cell(_number(held.get("Attempts__c")))
            + _cell(held.get("Status__c"))
            + _cell(held.get("LastReceived__c"))
            + "</tr>"
        )
    parts.append("</table></body></html>")
    return "\n".join(parts)
