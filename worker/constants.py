"""Every magic value of pinrelay, named once, with its unit.

Redis keys are built from these suffixes behind the configurable key prefix
(``PINRELAY_KEY_PREFIX``), so two deployments or two test runs can share one
Redis without seeing each other's data.
"""

from __future__ import annotations

from typing import Final

VERSION: Final = "0.1.0"

# --- Redis key suffixes (always used behind Settings.key_prefix) -----------
KEY_RECORD: Final = "req:"  # hash: one send's record (+ the PIN until it is sent)
KEY_PIN: Final = "pin:"  # string: the PIN, expiring with the request, deleted once sent
KEY_MESSAGE_INDEX: Final = "msg:"  # string: provider message-id -> request id
# zset: a client-ref -> the request ids sent with it (the newest CLIENT_REF_HOLDERS_MAX, scored
# by creation), for the receipt fallback. (It was "ref:", a string holding the first one.)
KEY_CLIENT_REF: Final = "refs:"
KEY_IDEMPOTENCY: Final = "idem:"  # string: caller idempotency key -> request id
KEY_RECEIPTS_STREAM: Final = "receipts"  # stream: the durable result queue
KEY_PENDING: Final = "pending"  # zset: queued request id -> when its task was last published
KEY_PARKED: Final = "parked"  # zset: message-id -> first seen (receipt before send)
KEY_PARKED_RECEIPTS: Final = "parked:"  # list: receipts waiting for their send
KEY_UNMATCHED: Final = "unmatched"  # (before round 2) hash: receipts given up on; purge removes it
KEY_DEAD_PREFIX: Final = "dead:"  # zset per dead-letter kind (sends, tasks): member -> unix time
# stream, capped (XADD MAXLEN ~ PINRELAY_DEAD_LETTER_CAP): receipts that were not applied, each
# with its id, reason, message-id and the receipt. (The zset "dead:receipts" before round 2.)
KEY_DEAD_RECEIPTS: Final = KEY_DEAD_PREFIX + "receipts:log"
KEY_STATS: Final = "stats"  # hash of counters
KEY_NONCES: Final = "nonce:"  # string per seen signed-receipt nonce (replay guard)
KEY_RATE_BUCKET: Final = "rate:bucket"  # hash: global token bucket and the provider's pause
KEY_ABUSE_NUMBER: Final = "abuse:num:"  # zset per number: send timestamps
KEY_ABUSE_PREFIX: Final = "abuse:pfx:"  # zset per NPA-NXX: send timestamps
KEY_DENYLIST: Final = "denylist"  # set of numbers/prefixes refused at enqueue

CONSUMER_GROUP: Final = "correlators"

# --- Verify (worker/verify/; NIST SP 800-63B-4 §3.1.3, OWASP ASVS 5.0 V6.5-6.6) ---
KEY_VERIFICATION: Final = "verify:"  # hash: one verification (never its code; its HMAC until it ends)
KEY_VERIFY_DUE: Final = "verify-due"  # zset: pending verification id -> expires_at (the sweep's list)
KEY_VERIFY_CONVERSIONS: Final = "verify-conv"  # zset: ended verification id -> when its reports are due
TASK_VERIFY_EXPIRE: Final = "pinrelay.verify_expire"
# Idempotency keys of a verification's sends start with it (verify:<id>:<n>): such a send
# drops its PIN at every end (finish.lua, claim.lua) and `pinrelay dead replay` refuses it.
VERIFY_IDEMPOTENCY_PREFIX: Final = "verify:"
VERIFY_MIN_LENGTH: Final = 6  # digits; NIST SP 800-63B-4 §3.1.3.1 (at least 6)
VERIFY_MAX_LENGTH: Final = 10  # digits; what the provider's `pin` accepts
VERIFY_MAX_TTL_S: Final = 600  # a code is valid for at most 10 minutes
VERIFY_SECRET_MIN_CHARS: Final = 32
DEFAULT_VERIFY_LENGTH: Final = 6
DEFAULT_VERIFY_TTL_S: Final = 300
DEFAULT_VERIFY_MAX_ATTEMPTS: Final = 5
DEFAULT_VERIFY_MAX_SENDS: Final = 3

# --- Celery ---------------------------------------------------------------
TASK_SEND_PIN: Final = "pinrelay.send_pin"
TASK_REPORT_CONVERSION: Final = "pinrelay.report_conversion"
DEFAULT_QUEUE: Final = "pinrelay"

# --- Provider ---------------------------------------------------------------
DEFAULT_API_URL: Final = "https://rest.nexmo.com"
DEFAULT_CONVERSION_URL: Final = "https://api.nexmo.com"
TWOFA_PATH: Final = "/sc/us/2fa/json"
CONVERSION_PATH: Final = "/conversions/sms"
DEFAULT_MESSAGES_URL: Final = "https://api.nexmo.com"  # the Messages API host (`/v1/messages` appended)
# A signed Vonage receipt may come back long after it was signed: the provider retries a 429/5xx for
# 24 h (KB 360028543292; the old short-code reference says 72 h). Older than the signature window
# but within this, it is kept as a `late_signature` dead letter (docs/provider-routes.md §G).
LATE_RECEIPT_HORIZON_S: Final = 72 * 3600
CLIENT_REF_MAX_CHARS: Final = 40
PIN_MIN_DIGITS: Final = 4
PIN_MAX_DIGITS: Final = 10
SIGNATURE_METHODS: Final = ("md5hash", "md5", "sha1", "sha256", "sha512")

# --- Defaults (seconds unless the name says otherwise) ---------------------
DEFAULT_CONNECT_TIMEOUT_S: Final = 3.0
DEFAULT_READ_TIMEOUT_S: Final = 10.0
DEFAULT_MAX_ATTEMPTS: Final = 6
DEFAULT_RETRY_DEADLINE_S: Final = 120.0  # a PIN is useless after a few minutes
DEFAULT_BACKOFF_INITIAL_S: Final = 0.5
DEFAULT_BACKOFF_MAX_S: Final = 20.0
DEFAULT_RECORD_TTL_S: Final = 7 * 24 * 3600
DEFAULT_PIN_EXPIRY_S: Final = 300  # a request not sent within this is dropped
# Celery/Redis hands an unacknowledged task (its worker was killed) to another worker after
# this; it must exceed the worst-case retry schedule (checked at start) and stay well under
# the PIN expiry, or a killed worker's prefetched PINs expire before anyone retries them.
DEFAULT_VISIBILITY_TIMEOUT_S: Final = 180
UNACKED_RESTORE_INTERVAL_S: Final = 5  # how often workers look for such tasks
TASK_EVENT_FLUSH_S: Final = 0.25  # task events wait at most this long to share one publish
# A queued send whose task message vanished (kombu's BRPOP hands it to a worker before it is
# recorded as unacknowledged; a worker killed in between takes the only copy) is republished
# once its task has been out this long with nobody claiming it.
LOST_TASK_GRACE_S: Final = 2 * UNACKED_RESTORE_INTERVAL_S
LOST_TASK_SWEEP_S: Final = 5.0
DEFAULT_WEBHOOK_BODY_LIMIT_BYTES: Final = 64 * 1024
DEFAULT_SIGNATURE_WINDOW_S: Final = 300
DEFAULT_RECEIPT_GRACE_S: Final = 600  # parked receipt -> unmatched after this
DEFAULT_CORRELATOR_BATCH: Final = 500
DEFAULT_CORRELATOR_BLOCK_MS: Final = 1000
CLAIM_LEASE_MARGIN_S: Final = 5.0  # a claim older than connect+read timeout+this is abandoned
DEFAULT_CLAIM_IDLE_MS: Final = 30_000  # pending receipt of a dead consumer is reclaimed after
DEFAULT_RATE_LIMIT_PER_S: Final = 30.0
DEFAULT_PER_NUMBER_10MIN: Final = 3
DEFAULT_PER_NUMBER_DAY: Final = 10
DEFAULT_PER_PREFIX_MINUTE: Final = 30
DEFAULT_WEBHOOK_PORT: Final = 8080
DEFAULT_SIM_PORT: Final = 8090
UP_STOP_GRACE_S: Final = 20.0  # `pinrelay up`: its components' time to stop, together, before SIGKILL
DEFAULT_PHONE_REGIONS: Final = ("US", "CA")

# --- Hostile input and bounds (RELIABILITY.md "Round 2") --------------------
DEFAULT_WEBHOOK_BODY_TIMEOUT_S: Final = 10.0  # headers in, body not complete after this: 408
DEFAULT_WEBHOOK_THREADS: Final = 32  # per receiver worker process: they mostly wait on Redis
DEFAULT_WEBHOOK_BACKLOG_MAX: Final = 100_000  # receipts on the stream; beyond: 503 (the provider retries)
DEFAULT_DEAD_LETTER_CAP: Final = 10_000  # entries per dead-letter kind; the oldest go first
DEFAULT_PARKED_MAX: Final = 10_000  # message-ids with early receipts waiting for their send
PARKED_PER_MESSAGE_MAX: Final = 8  # receipts kept per waiting message-id (the newest)
# A parked receipt received this long before the send's claim cannot be for it (the
# provider cannot report on a message before it was submitted); the slack covers clock skew
# between the receiver's and the worker's hosts.
PARKED_RECEIPT_SKEW_S: Final = 5
CLIENT_REF_HOLDERS_MAX: Final = 8  # request ids remembered per client-ref (the newest)
DEAD_RECEIPT_MAX_BYTES: Final = 4096  # a bigger receipt is kept as its known fields, shortened
DEAD_RECEIPT_FIELD_MAX_CHARS: Final = 256
WEBHOOK_METRICS_CHOICES: Final = ("on", "off")  # or a port number
# The err-codes docs/provider-api.md §4 lists (0-15 and 99, plus 16 and 50-54 seen in a
# maintained integration). Any other becomes "other" in `stats` and in metric labels, so a
# sender cannot add fields or label values at will.
DOCUMENTED_ERR_CODES: Final = frozenset(
    [str(n) for n in range(16)] + ["16", "50", "51", "52", "53", "54", "99"]
)
OTHER_ERR_CODE: Final = "other"

# --- HTTP producer API and outcome callbacks ---------------------------------
DEFAULT_API_PORT: Final = 8081
DEFAULT_API_RATE_PER_KEY: Final = 50.0  # requests/s per API key, shared by every API process
DEFAULT_API_BODY_LIMIT_BYTES: Final = 16 * 1024
KEY_API_KEY: Final = "apikey:"  # hash per API key: name, SHA-256 of the key, created/last used/revoked
KEY_API_KEY_HASH: Final = "apikey:sha256:"  # string: SHA-256 of a live key -> key id
KEY_API_KEYS: Final = "apikeys"  # zset: key id -> creation time (for `pinrelay keys list`)
KEY_API_RATE: Final = "apirate:"  # string per key id: its rate limiter's next allowed time (ms)
KEY_CALLBACK_WATCH: Final = "cbwatch:"  # zset per kind (pin, verification): id -> next look (s)
TASK_DELIVER_CALLBACK: Final = "pinrelay.deliver_callback"
CALLBACK_KEY_FIELD: Final = "callback_key"  # record field: the API key id whose secret signs its callbacks
# the field of apikey:<id> holding the key's own callback secret (`keys create --callback-secret`)
API_KEY_CALLBACK_SECRET_FIELD: Final = "callback_secret"  # noqa: S105 - a field name, not a secret
DEFAULT_CALLBACK_RETRY_DEADLINE_S: Final = 3600.0
CALLBACK_CONNECT_TIMEOUT_S: Final = 3.0
CALLBACK_READ_TIMEOUT_S: Final = 5.0  # one read or write; the whole attempt is CALLBACK_DEADLINE_S
# One callback attempt, wall clock: connecting, sending, the receiver's status line and headers
# (a receiver trickling a byte every few seconds is cut off here, not waited on per read).
CALLBACK_DEADLINE_S: Final = 10.0
# Celery's hard time limit (prefork kills the process) of the tasks on the callbacks queue, a
# backstop behind the deadline above: a callback attempt, a conversion report, a verify sweep.
CALLBACK_TASK_TIME_LIMIT_S: Final = 30
SIDE_TASK_TIME_LIMIT_S: Final = 120
DEFAULT_CALLBACK_CONCURRENCY: Final = 4
CALLBACK_QUEUE_SUFFIX: Final = "-callbacks"  # PINRELAY_CALLBACK_QUEUE's default: PINRELAY_QUEUE + this
CALLBACK_BACKOFF_INITIAL_S: Final = 1.0  # first retry of a refused callback; doubles up to the cap
CALLBACK_BACKOFF_MAX_S: Final = 60.0  # kept well under the visibility timeout (a waiting retry is held)
CALLBACK_WATCH_SWEEP_S: Final = 0.5  # how often the correlator looks for newly settled records
MISROUTED_QUEUES: Final = ("celery",)  # where a send_task without queue="pinrelay" lands
MISROUTED_SWEEP_S: Final = 5.0

# --- Auth-server hooks (worker/api/hooks/; docs/auth-servers.md) ------------------
# A Supabase retry comes within 5 s of the first attempt (hookshttp.go: 5 s for every attempt,
# each with a new webhook-id); 60 s covers that and the docs' longer schedule (19 s), and stays
# within Supabase's own one-SMS-per-user-per-60-s limit, so a deliberate resend (a new OTP
# anyway) is never held. Longer would only widen the window for two equal random OTPs.
SUPABASE_DEDUP_WINDOW_S: Final = 60
HOOK_SIGNATURE_TOLERANCE_S: Final = 300  # a signed generic hook's t= may be this far off (Zitadel's 300 s)
# A replayed signed generic call is caught while its signature still verifies: t +- the tolerance.
GENERIC_DEDUP_WINDOW_S: Final = 2 * HOOK_SIGNATURE_TOLERANCE_S
# Supabase sends the whole user object (metadata, identities, factors): more than
# PINRELAY_API_BODY_LIMIT may need, and refusing it would lock the user out.
SUPABASE_HOOK_BODY_LIMIT_BYTES: Final = 256 * 1024
DEFAULT_HOOK_CODE_PATTERN: Final = r"(?<![0-9])[0-9]{4,10}(?![0-9])"  # the one run of 4-10 digits
HOOK_SIGNING_KEY_MIN_CHARS: Final = 16
