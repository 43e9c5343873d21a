# SPDX-License-Identifier: MIT
"""The data directory: SQLite database, settings, operator token, CA material."""
import contextlib
import os
import secrets
import sqlite3
import threading

from .kmc import SCHEMA as KMC_SCHEMA
from .pki import PKI
from .sm2crl import SCHEMA as SM2CRL_SCHEMA
from .revocation import SCHEMA as REVOCATION_SCHEMA

SCHEMA = """
CREATE TABLE IF NOT EXISTS settings (key TEXT PRIMARY KEY, value INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS accounts (
  id INTEGER PRIMARY KEY, account TEXT UNIQUE NOT NULL, password_hash TEXT NOT NULL,
  role TEXT NOT NULL, enterprise TEXT NOT NULL, created_at TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS sessions (
  token_hash TEXT PRIMARY KEY, account_id INTEGER NOT NULL, created_at TEXT NOT NULL,
  expires_epoch REAL NOT NULL, revoked INTEGER NOT NULL DEFAULT 0);
CREATE TABLE IF NOT EXISTS persons (
  id INTEGER PRIMARY KEY, account_id INTEGER NOT NULL, name TEXT NOT NULL, id_type TEXT NOT NULL,
  id_number TEXT NOT NULL, position TEXT, first_applied_at TEXT NOT NULL, last_applied_at TEXT NOT NULL,
  UNIQUE(account_id, id_number));
CREATE TABLE IF NOT EXISTS certificates (
  id INTEGER PRIMARY KEY, account_id INTEGER NOT NULL, kind TEXT NOT NULL, holder TEXT NOT NULL,
  holder_id_number TEXT, serial TEXT UNIQUE NOT NULL, subject TEXT NOT NULL, issuer TEXT NOT NULL,
  not_before TEXT NOT NULL, not_after TEXT NOT NULL, status TEXT NOT NULL, key_serial TEXT,
  der BLOB NOT NULL, spki_sha256 TEXT NOT NULL, created_at TEXT NOT NULL,
  order_number TEXT, item_index INTEGER);
CREATE TABLE IF NOT EXISTS orders (
  number TEXT PRIMARY KEY, account_id INTEGER NOT NULL, business TEXT NOT NULL,
  created_at TEXT NOT NULL, updated_at TEXT NOT NULL, application TEXT NOT NULL,
  amount_fen INTEGER NOT NULL, review_status TEXT NOT NULL, review_comment TEXT, reviewed_at TEXT,
  order_status TEXT NOT NULL, payment_status TEXT NOT NULL, payment_method TEXT, paid_at TEXT,
  shipping_status TEXT NOT NULL, rating TEXT, cancel_reason TEXT, version INTEGER NOT NULL DEFAULT 1);
CREATE INDEX IF NOT EXISTS orders_account ON orders(account_id, created_at);
CREATE TABLE IF NOT EXISTS attachments (
  order_number TEXT NOT NULL, field TEXT NOT NULL, type TEXT NOT NULL, size INTEGER NOT NULL,
  sha256 TEXT NOT NULL, data BLOB NOT NULL, PRIMARY KEY(order_number, field));
CREATE TABLE IF NOT EXISTS items (
  order_number TEXT NOT NULL, idx INTEGER NOT NULL, kind TEXT NOT NULL, holder TEXT NOT NULL,
  holder_id_number TEXT, position TEXT, years INTEGER NOT NULL, price_fen INTEGER NOT NULL,
  status TEXT NOT NULL, old_serial TEXT, new_serial TEXT, issue_answer TEXT, PRIMARY KEY(order_number, idx));
CREATE TABLE IF NOT EXISTS challenges (
  id TEXT PRIMARY KEY, order_number TEXT NOT NULL, idx INTEGER NOT NULL, nonce BLOB NOT NULL,
  created_at TEXT NOT NULL, expires_epoch REAL NOT NULL, expires_at TEXT NOT NULL, used_at TEXT);
CREATE TABLE IF NOT EXISTS issuances (
  id INTEGER PRIMARY KEY, order_number TEXT NOT NULL, idx INTEGER NOT NULL, serial TEXT NOT NULL,
  issued_at TEXT NOT NULL, spki_sha256 TEXT NOT NULL, challenge_id TEXT, spki_der BLOB,
  reissue INTEGER NOT NULL DEFAULT 0);
CREATE TABLE IF NOT EXISTS seals (serial TEXT PRIMARY KEY, record TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS idempotency (
  scope TEXT NOT NULL, key TEXT NOT NULL, method TEXT NOT NULL, path TEXT NOT NULL,
  fingerprint TEXT NOT NULL, status INTEGER NOT NULL, headers TEXT NOT NULL, body BLOB NOT NULL,
  created_at TEXT NOT NULL, PRIMARY KEY(scope, key));
CREATE TABLE IF NOT EXISTS notifications (
  id INTEGER PRIMARY KEY, account_id INTEGER NOT NULL, channel TEXT NOT NULL, mobile TEXT NOT NULL,
  text TEXT NOT NULL, order_number TEXT, sent_at TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS faults (
  id INTEGER PRIMARY KEY, endpoint TEXT NOT NULL, kind TEXT NOT NULL, status INTEGER,
  retry_after INTEGER, delay_ms INTEGER, remaining INTEGER NOT NULL, created_at TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS issuer_fault (
  id INTEGER PRIMARY KEY CHECK (id = 1), fault TEXT, mode TEXT NOT NULL, remaining INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS shipments (
  order_number TEXT PRIMARY KEY, tracking_number TEXT, key_serial TEXT, shipped_at TEXT NOT NULL, received_at TEXT);
CREATE TABLE IF NOT EXISTS released_keys (
  spki_sha256 TEXT NOT NULL, order_number TEXT NOT NULL, idx INTEGER NOT NULL, released_at TEXT NOT NULL,
  PRIMARY KEY(spki_sha256, order_number, idx));
"""

# columns added after the first release: (table, column, definition), added to an older database on open
ADDED_COLUMNS = [("items", "issue_answer", "TEXT"), ("issuances", "spki_der", "BLOB"),
                 ("issuances", "reissue", "INTEGER NOT NULL DEFAULT 0")]

DEFAULT_SETTINGS = {"token_ttl": 3600, "challenge_ttl": 300, "review_retry_after": 5,
                    "login_challenge_ttl": 120, "login_challenges_max": 1000, "sm2_offered": 1}


class Store:
    """One data directory. Thread-safe: each caller uses its own connection from connect()."""

    def __init__(self, data_dir):
        self.dir = os.path.abspath(data_dir)
        os.makedirs(self.dir, exist_ok=True)
        self.db_path = os.path.join(self.dir, "platform.db")
        self.write_lock = threading.RLock()
        self.pki = PKI(self.dir)
        tok_path = os.path.join(self.dir, "operator-token")
        if not os.path.exists(tok_path):
            tmp = tok_path + ".tmp"
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w") as f:
                f.write(secrets.token_urlsafe(32) + "\n")
            os.replace(tmp, tok_path)
        with open(tok_path) as f:
            self.operator_token = f.read().strip()
        conn = self.connect()
        conn.executescript(SCHEMA)
        conn.executescript(REVOCATION_SCHEMA)
        conn.executescript(KMC_SCHEMA)
        conn.executescript(SM2CRL_SCHEMA)
        with self.tx(conn):
            for table, column, definition in ADDED_COLUMNS:
                if column not in [r["name"] for r in conn.execute("PRAGMA table_info(%s)" % table)]:
                    conn.execute("ALTER TABLE %s ADD COLUMN %s %s" % (table, column, definition))
            for k, v in DEFAULT_SETTINGS.items():
                conn.execute("INSERT OR IGNORE INTO settings(key, value) VALUES (?, ?)", (k, v))
        conn.close()

    def connect(self):
        conn = sqlite3.connect(self.db_path, timeout=30, isolation_level=None, check_same_thread=False)
        conn.row_factory = sqlite3.Row
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute("PRAGMA busy_timeout=30000")
        conn.execute("PRAGMA foreign_keys=OFF")
        return conn

    @contextlib.contextmanager
    def tx(self, conn):
        """A write transaction: one writer in this process, BEGIN IMMEDIATE against other processes."""
        with self.write_lock:
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            else:
                conn.execute("COMMIT")

    def settings(self, conn):
        return {r["key"]: r["value"] for r in conn.execute("SELECT key, value FROM settings")}

    def set_setting(self, conn, key, value):
        conn.execute("INSERT OR REPLACE INTO settings(key, value) VALUES (?, ?)", (key, int(value)))
