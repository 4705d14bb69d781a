"""Calls a convops server with nothing but Python's standard library:
urllib, a bearer token, GET with a query string and POST with a JSON body.
It checks the account's numbers and prints each answer on a line of its
own.

Environment: CONVOPS_URL, ACCOUNT, BEARER_TOKEN, EXPECT_TOTAL.
"""
import json
import os
import sys
import urllib.error
import urllib.request

env = os.environ
api = f"{env['CONVOPS_URL']}/operations/api/account/{env['ACCOUNT']}/msgconversation"
headers = {"Authorization": f"Bearer {env['BEARER_TOKEN']}", "Accept": "application/json"}


def call(req):
    try:
        with urllib.request.urlopen(req, timeout=30) as res:
            return res.read().decode()
    except urllib.error.HTTPError as e:
        sys.exit(f"{req.get_method()} {req.full_url}: {e.code} {e.read().decode()}")


by_get = call(urllib.request.Request(api + "?timeframe=60&v=1&interval=30", headers=headers))
body = json.dumps({"timeframe": "60", "v": "1", "interval": 30}).encode()
by_post = call(urllib.request.Request(api, data=body, headers={**headers, "Content-Type": "application/json"}, method="POST"))

for how, text in (("GET", by_get), ("POST", by_post)):
    answer = json.loads(text)
    total = answer["metricsTotals"]["totalResolvedConversations"]
    if total != int(env["EXPECT_TOTAL"]):
        sys.exit(f"{how}: {total} resolved, want {env['EXPECT_TOTAL']}")
    # 60 minutes back from 13:29 reach into the 12:25 bucket: two whole
    # half-hours and the part of a third.
    if len(answer["metricsByIntervals"]) != 3:
        sys.exit(f"{how}: {len(answer['metricsByIntervals'])} intervals, want 3")
    print(text)
