// Calls a convops server as LivePerson's Node samples call the Operational
// Realtime API: the domain from the domain API, then the Messaging
// Conversation method by GET and by POST, signed with OAuth 1.0a by the npm
// package oauth-1.0a, sent with Node's own fetch. It checks the account's
// numbers and prints each answer on a line of its own.
//
// Environment: CONVOPS_URL (scheme and host of the domain API), ACCOUNT,
// CONSUMER_KEY, CONSUMER_SECRET, TOKEN, TOKEN_SECRET, EXPECT_TOTAL (the
// account's resolved conversations in the last 60 minutes), EXPECT_SKILLS
// (its skill ids with data, comma-separated).
import crypto from 'node:crypto';
import OAuth from 'oauth-1.0a';

const env = (name) => {
  const v = process.env[name];
  if (v === undefined) throw new Error(`${name} is not set`);
  return v;
};
const base = new URL(env('CONVOPS_URL'));
const account = env('ACCOUNT');

const oauth = OAuth({
  consumer: { key: env('CONSUMER_KEY'), secret: env('CONSUMER_SECRET') },
  signature_method: 'HMAC-SHA1',
  hash_function: (text, key) => crypto.createHmac('sha1', key).update(text).digest('base64'),
});
const token = { key: env('TOKEN'), secret: env('TOKEN_SECRET') };

async function call(method, url, body) {
  const headers = oauth.toHeader(oauth.authorize({ url, method }, token));
  headers.Accept = 'application/json';
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  const res = await fetch(url, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await res.text();
  if (res.status !== 200) throw new Error(`${method} ${url}: ${res.status} ${text}`);
  return text;
}

// The domain, as LivePerson's clients find it.
const domain = JSON.parse(await call('GET', `${base.origin}/api/account/${account}/service/leDataReporting/baseURI.json?version=1.0`));
if (!domain.baseURI) throw new Error(`no baseURI in ${JSON.stringify(domain)}`);
const api = `${base.protocol}//${domain.baseURI}/operations/api/account/${account}/msgconversation`;

const byGet = await call('GET', `${api}?timeframe=60&v=1&skillIds=all`);
const byPost = await call('POST', `${api}?v=1`, { timeframe: 60, skillIds: 'all', agentIds: null });

const expectTotal = Number(env('EXPECT_TOTAL'));
const expectSkills = env('EXPECT_SKILLS').split(',').map(Number);
for (const [how, text] of [['GET', byGet], ['POST', byPost]]) {
  const answer = JSON.parse(text);
  const totals = answer.skillsMetricsPerAgent.metricsTotals;
  // A JavaScript object lists integer-like keys ("3") before others ("-1"):
  // compare the ids, not their order.
  const skills = Object.keys(answer.skillsMetricsPerAgent.metricsPerSkill).map(Number).sort((a, b) => a - b);
  if (totals.totalResolvedConversations !== expectTotal) {
    throw new Error(`${how}: ${totals.totalResolvedConversations} resolved, want ${expectTotal}`);
  }
  if (skills.join(',') !== expectSkills.join(',')) {
    throw new Error(`${how}: skills ${skills}, want ${expectSkills}`);
  }
  console.log(text);
}
