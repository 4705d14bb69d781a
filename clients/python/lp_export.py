"""Exports the last day of a LivePerson account's closed conversations from
the Messaging Interactions API (conversations/search), page by page, into
files that `convops import liveperson` sends to convops.

    LP_CONSUMER_KEY=… LP_CONSUMER_SECRET=… LP_TOKEN=… LP_TOKEN_SECRET=… \\
      /usr/bin/python3 clients/python/lp_export.py --account 12345678 --out lp-pages
    go run ./cmd/convops import liveperson --account 12345678 lp-pages/*.json

The key is a LivePerson API key with the Engagement History permission
(OAuth 1.0a, signed by requests-oauthlib). The Messaging Interactions
domain is asked of LivePerson's domain API unless --base-url gives it.
Conversations that ended in the last 24 hours are asked for (among those
started in the last --hours); closed ones older than convops's window less half
an hour are left out (convops would refuse them); open ones are kept, and
convops counts them as skipped.
"""
import argparse
import json
import os
import sys
import time

import requests
from requests_oauthlib import OAuth1

DOMAIN_API = "https://api.liveperson.net/api/account/{account}/service/msgHist/baseURI.json?version=1.0"
KEY_VARIABLES = ("LP_CONSUMER_KEY", "LP_CONSUMER_SECRET", "LP_TOKEN", "LP_TOKEN_SECRET")
PAGE = 100  # the most LivePerson gives at once
WINDOW_MS = 24 * 3600 * 1000 - 30 * 60 * 1000  # convops keeps 24 hours; half an hour for the import to follow


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--account", required=True, help="the LivePerson account id")
    ap.add_argument("--out", required=True, help="directory for the page files")
    ap.add_argument("--base-url", help="scheme and host of the Messaging Interactions API (default: asked of LivePerson's domain API)")
    ap.add_argument("--hours", type=float, default=48,
                    help="how far back conversations may have started (default 48); those that ended in the last 24 hours are asked for")
    args = ap.parse_args()

    env = os.environ
    missing = [name for name in KEY_VARIABLES if not env.get(name)]
    if missing:
        ap.exit(2, "lp_export.py: set %s: the LivePerson API key (OAuth 1.0a, with the Engagement History "
                   "permission) it signs its requests with; missing: %s\n" % (", ".join(KEY_VARIABLES), ", ".join(missing)))
    auth = OAuth1(*(env[name] for name in KEY_VARIABLES), signature_method="HMAC-SHA1", signature_type="auth_header")
    base = args.base_url
    if not base:
        r = requests.get(DOMAIN_API.format(account=args.account), timeout=30)
        r.raise_for_status()
        base = "https://" + r.json()["baseURI"]

    now = int(time.time() * 1000)
    oldest_end = now - WINDOW_MS
    body = {
        "start": {"from": now - int(args.hours * 3600 * 1000), "to": now},
        "end": {"from": oldest_end, "to": now},
        "contentToRetrieve": ["info", "agentParticipants", "transfers", "interactions"],
    }
    os.makedirs(args.out, exist_ok=True)
    url = f"{base}/messaging_history/api/account/{args.account}/conversations/search"
    offset, written, kept, dropped = 0, 0, 0, 0
    while True:
        for attempt in range(8):
            r = requests.post(url, params={"offset": offset, "limit": PAGE, "sort": "start:asc", "source": "convopsBackfill"},
                              json=body, auth=auth, timeout=60)
            if r.status_code not in (429, 500, 502, 503, 504):
                break
            wait = min(2 ** attempt, 30)
            if r.headers.get("Retry-After", "").isdigit():
                wait = min(int(r.headers["Retry-After"]), 120)
            time.sleep(wait)
        if r.status_code != 200:
            sys.exit(f"conversations/search at offset {offset}: {r.status_code} {r.text[:500]}")
        page = r.json()
        records = page.get("conversationHistoryRecords") or []
        keep = [rec for rec in records
                if rec.get("info", {}).get("status") != "CLOSE" or rec["info"].get("endTimeL", 0) >= oldest_end]
        dropped += len(records) - len(keep)
        if keep:
            written += 1
            kept += len(keep)
            with open(os.path.join(args.out, f"page-{written:05d}.json"), "w") as f:
                json.dump({"conversationHistoryRecords": keep}, f)
        total = page.get("_metadata", {}).get("count", 0)
        offset += len(records)
        print(f"{offset} of {total} records read, {written} pages written", file=sys.stderr)
        if not records or offset >= total:
            break
    print(f"{kept} records in {written} pages under {args.out}; {dropped} closed before the 24-hour window, left out")


if __name__ == "__main__":
    main()
