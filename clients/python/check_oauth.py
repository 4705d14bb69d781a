"""Calls a convops server as LivePerson's Python samples call the
Operational Realtime API: the domain from the domain API, then the
Messaging Conversation method by GET and by POST (a JSON body of numbers and
nulls), signed with OAuth 1.0a by requests-oauthlib. It checks the account's
numbers and prints each answer on a line of its own.

Environment: CONVOPS_URL, ACCOUNT, CONSUMER_KEY, CONSUMER_SECRET, TOKEN,
TOKEN_SECRET, EXPECT_AGENT_TOTAL (the conversations of its agents in the last
60 minutes), EXPECT_AGENTS (their ids, comma-separated).
"""
import os
import sys
from urllib.parse import urlsplit

import requests
from requests_oauthlib import OAuth1

env = os.environ
base = urlsplit(env["CONVOPS_URL"])
account = env["ACCOUNT"]
auth = OAuth1(env["CONSUMER_KEY"], env["CONSUMER_SECRET"], env["TOKEN"], env["TOKEN_SECRET"],
              signature_method="HMAC-SHA1", signature_type="auth_header")

domain = requests.get(f"{base.scheme}://{base.netloc}/api/account/{account}/service/leDataReporting/baseURI.json",
                      params={"version": "1.0"}, auth=auth, timeout=30)
domain.raise_for_status()
api = f"{base.scheme}://{domain.json()['baseURI']}/operations/api/account/{account}/msgconversation"

by_get = requests.get(api, params={"timeframe": 60, "v": 1, "agentIds": "all"}, auth=auth, timeout=30)
by_post = requests.post(api, json={"timeframe": 60, "v": 1, "agentIds": "all", "skillIds": None, "interval": None},
                        auth=auth, timeout=30)

for how, res in (("GET", by_get), ("POST", by_post)):
    if res.status_code != 200:
        sys.exit(f"{how}: {res.status_code} {res.text}")
    agents = res.json()["agentsMetrics"]
    total = agents["metricsTotals"]["totalResolvedConversations"]
    if total != int(env["EXPECT_AGENT_TOTAL"]):
        sys.exit(f"{how}: {total} resolved, want {env['EXPECT_AGENT_TOTAL']}")
    if ",".join(agents["metricsPerAgent"]) != env["EXPECT_AGENTS"]:
        sys.exit(f"{how}: agents {list(agents['metricsPerAgent'])}, want {env['EXPECT_AGENTS']}")
    print(res.text)
