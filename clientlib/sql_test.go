package clientlib_test

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"modernc.org/sqlite"

	"github.com/statsd-agent/statsd-agent/clientlib"
	"github.com/statsd-agent/statsd-agent/clientlib/clientlibtest"
	"github.com/statsd-agent/statsd-agent/protocol"
)

// countByOp sums the named counter per op tag, checking the db tag.
func countByOp(t *testing.T, samples []clientlibtest.Sample, name, db string) map[string]float64 {
	t.Helper()
	out := map[string]float64{}
	for _, s := range clientlibtest.Find(samples, name, protocol.Counter) {
		if got, _ := s.Tag("db"); got != db {
			t.Errorf("%s tagged db:%q, want %q", name, got, db)
		}
		op, _ := s.Tag("op")
		out[op] += s.Value
	}
	return out
}

// TestSQL runs real statements through SQLite (modernc.org/sqlite, pure
// Go) and checks the counts, errors and timers per operation.
func TestSQL(t *testing.T) {
	c, rec := clientlibtest.New(t, clientlib.Config{})
	db, err := c.OpenDB("main", "sqlite", filepath.Join(t.TempDir(), "test.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	db.SetMaxOpenConns(1) // one connection: one "connect"
	ctx := context.Background()

	mustExec := func(q string, args ...any) {
		t.Helper()
		if _, err := db.ExecContext(ctx, q, args...); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	mustExec(`CREATE TABLE users (name TEXT PRIMARY KEY, age INTEGER)`)
	mustExec(`INSERT INTO users VALUES (?, ?)`, "alice", 30)
	mustExec(`INSERT INTO users VALUES (:name, :age)`, sql.Named("name", "bob"), sql.Named("age", 25))

	ins, err := db.PrepareContext(ctx, `INSERT INTO users VALUES (?, ?)`)
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"carol", "dave"} {
		if _, err := ins.ExecContext(ctx, name, 40); err != nil {
			t.Fatal(err)
		}
	}
	ins.Close()

	var age int
	if err := db.QueryRowContext(ctx, `SELECT age FROM users WHERE name = ?`, "bob").Scan(&age); err != nil || age != 25 {
		t.Fatalf("select bob: age %d, %v", age, err)
	}

	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.ExecContext(ctx, `UPDATE users SET age = age + 1`); err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	tx, err = db.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM users`); err != nil {
		t.Fatal(err)
	}
	if err := tx.Rollback(); err != nil {
		t.Fatal(err)
	}

	// Errors: a duplicate key, a syntax error in a query.
	if _, err := db.ExecContext(ctx, `INSERT INTO users VALUES (?, ?)`, "alice", 1); err == nil {
		t.Error("duplicate insert succeeded")
	}
	if _, err := db.QueryContext(ctx, `SELEKT nothing`); err == nil {
		t.Error("bad query succeeded")
	}

	var n int
	if err := db.QueryRowContext(ctx, `SELECT count(*) FROM users`).Scan(&n); err != nil || n != 4 {
		t.Fatalf("count: %d, %v (the rollback should have kept 4 users)", n, err)
	}

	samples := rec.Samples(t)
	wantCalls := map[string]float64{
		"connect": 1, "exec": 8, "prepare": 1, "query": 3,
		"begin": 2, "commit": 1, "rollback": 1,
	}
	if diff := cmp.Diff(wantCalls, countByOp(t, samples, clientlib.DBCalls, "main")); diff != "" {
		t.Errorf("db.calls by op (-want +got):\n%s", diff)
	}
	wantErrors := map[string]float64{"exec": 1, "query": 1}
	if diff := cmp.Diff(wantErrors, countByOp(t, samples, clientlib.DBErrors, "main")); diff != "" {
		t.Errorf("db.errors by op (-want +got):\n%s", diff)
	}
	timers := map[string]float64{}
	for _, s := range clientlibtest.Find(samples, clientlib.DBDuration, protocol.Timer) {
		op, _ := s.Tag("op")
		timers[op]++
		if s.Value < 0 {
			t.Errorf("negative duration %v", s.Value)
		}
	}
	if diff := cmp.Diff(wantCalls, timers); diff != "" {
		t.Errorf("db.duration timers by op (-want +got):\n%s", diff)
	}

	// Pool statistics match db.Stats().
	rec.Reset()
	clientlib.NewDBStatsCollector(c, db, "main", 0).Collect()
	st := db.Stats()
	gauges := map[string]float64{}
	for _, s := range rec.Samples(t) {
		if s.Type != protocol.Gauge {
			t.Errorf("pool stat %s is a %v, want a gauge", s.Name, s.Type)
		}
		gauges[s.Name] = s.Value
	}
	wantGauges := map[string]float64{
		"db.pool.max_open":             1,
		"db.pool.open":                 float64(st.OpenConnections),
		"db.pool.in_use":               float64(st.InUse),
		"db.pool.idle":                 float64(st.Idle),
		"db.pool.wait_count":           float64(st.WaitCount),
		"db.pool.wait_duration":        float64(st.WaitDuration.Nanoseconds()) / 1e6,
		"db.pool.max_idle_closed":      float64(st.MaxIdleClosed),
		"db.pool.max_idle_time_closed": float64(st.MaxIdleTimeClosed),
		"db.pool.max_lifetime_closed":  float64(st.MaxLifetimeClosed),
	}
	if diff := cmp.Diff(wantGauges, gauges); diff != "" {
		t.Errorf("pool gauges (-want +got):\n%s", diff)
	}
	if st.OpenConnections != 1 {
		t.Errorf("open connections %d, want 1", st.OpenConnections)
	}
}

// TestSQLPoolWait holds the only connection in a transaction while another
// query waits for it, and checks the wait shows in the pool gauges.
func TestSQLPoolWait(t *testing.T) {
	c, rec := clientlibtest.New(t, clientlib.Config{})
	db, err := c.OpenDB("wait", "sqlite", filepath.Join(t.TempDir(), "wait.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	ctx := context.Background()
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		_, err := db.ExecContext(ctx, `CREATE TABLE t (x INTEGER)`)
		done <- err
	}()
	// Wait (bounded) until the second caller is queued for the connection.
	deadline := time.Now().Add(10 * time.Second)
	for db.Stats().WaitCount == 0 {
		if time.Now().After(deadline) {
			t.Fatal("the second caller never waited for the connection")
		}
		time.Sleep(time.Millisecond)
	}
	coll := clientlib.NewDBStatsCollector(c, db, "wait", 0)
	coll.Collect()
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	gauges := map[string]float64{}
	for _, s := range clientlibtest.Find(rec.Samples(t), "db.pool.in_use", protocol.Gauge) {
		gauges["in_use"] = s.Value
	}
	for _, s := range clientlibtest.Find(rec.Samples(t), "db.pool.wait_count", protocol.Gauge) {
		gauges["wait_count"] = s.Value
	}
	if want := map[string]float64{"in_use": 1, "wait_count": 1}; !cmp.Equal(want, gauges) {
		t.Errorf("gauges while waiting: %v, want %v", gauges, want)
	}
}

func TestSQLNilClient(t *testing.T) {
	var c *clientlib.Client
	db, err := c.OpenDB("x", "sqlite", filepath.Join(t.TempDir(), "nil.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec(`CREATE TABLE t (x)`); err != nil {
		t.Fatal(err)
	}
	clientlib.NewDBStatsCollector(c, db, "x", 0).Collect()
}

// legacy hides every optional interface of a real SQLite connection, so it
// looks like a driver written before Go 1.8: Prepare, Begin and Close, and
// statements with only Exec and Query.
type legacyConnector struct{ dsn string }

func (l legacyConnector) Connect(context.Context) (driver.Conn, error) {
	cn, err := (&sqlite.Driver{}).Open(l.dsn)
	if err != nil {
		return nil, err
	}
	return legacyConn{cn}, nil
}

func (l legacyConnector) Driver() driver.Driver { return &sqlite.Driver{} }

type legacyConn struct{ driver.Conn }

func (c legacyConn) Prepare(q string) (driver.Stmt, error) {
	st, err := c.Conn.Prepare(q)
	if err != nil {
		return nil, err
	}
	return legacyStmt{st}, nil
}

type legacyStmt struct{ driver.Stmt }

// TestSQLLegacyDriver checks the fallbacks: with no ExecerContext or
// QueryerContext, database/sql prepares each statement, and the wrapper
// counts the prepare and the statement's exec or query; ErrSkip is not
// counted as an error.
func TestSQLLegacyDriver(t *testing.T) {
	c, rec := clientlibtest.New(t, clientlib.Config{})
	db := sql.OpenDB(c.WrapConnector("legacy", legacyConnector{filepath.Join(t.TempDir(), "legacy.db")}))
	defer db.Close()
	db.SetMaxOpenConns(1)
	ctx := context.Background()
	if _, err := db.ExecContext(ctx, `CREATE TABLE t (x INTEGER)`); err != nil {
		t.Fatal(err)
	}
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO t VALUES (?)`, 7); err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	var x int
	if err := db.QueryRowContext(ctx, `SELECT x FROM t`).Scan(&x); err != nil || x != 7 {
		t.Fatalf("select: %d, %v", x, err)
	}
	if _, err := db.ExecContext(ctx, `INSERT INTO t VALUES (:x)`, sql.Named("x", 1)); err == nil {
		t.Error("named argument accepted by a legacy driver")
	}
	if _, err := db.BeginTx(ctx, &sql.TxOptions{ReadOnly: true}); err == nil {
		t.Error("read-only transaction accepted by a legacy driver")
	}

	samples := rec.Samples(t)
	wantCalls := map[string]float64{"connect": 1, "prepare": 4, "exec": 3, "query": 1, "begin": 2, "commit": 1}
	if diff := cmp.Diff(wantCalls, countByOp(t, samples, clientlib.DBCalls, "legacy")); diff != "" {
		t.Errorf("db.calls by op (-want +got):\n%s", diff)
	}
	wantErrors := map[string]float64{"exec": 1, "begin": 1}
	if diff := cmp.Diff(wantErrors, countByOp(t, samples, clientlib.DBErrors, "legacy")); diff != "" {
		t.Errorf("db.errors by op (-want +got):\n%s", diff)
	}
}
