package clientlib

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"time"
)

// Metric names sent by the database/sql instrumentation (after the
// Client's prefix). Each is tagged db (the name given to WrapConnector or
// OpenDB) and op: "connect", "prepare", "query", "exec", "begin", "commit"
// or "rollback".
const (
	DBCalls    = "db.calls"    // counter, per operation
	DBErrors   = "db.errors"   // counter, per failed operation
	DBDuration = "db.duration" // timer, per operation
)

// OpenDB opens a *sql.DB whose operations are instrumented (see
// WrapConnector), for a driver registered under driverName, as sql.Open
// would. name tags the metrics ("main", "users").
//
// With a nil Client it is sql.Open.
func (c *Client) OpenDB(name, driverName, dsn string) (*sql.DB, error) {
	db, err := sql.Open(driverName, dsn)
	if err != nil || c == nil {
		return db, err
	}
	drv := db.Driver()
	db.Close() // sql.Open connects lazily: nothing to release but the handle
	var ctr driver.Connector
	if dc, ok := drv.(driver.DriverContext); ok {
		if ctr, err = dc.OpenConnector(dsn); err != nil {
			return nil, fmt.Errorf("clientlib: open %s: %w", driverName, err)
		}
	} else {
		ctr = dsnConnector{dsn: dsn, drv: drv}
	}
	return sql.OpenDB(c.WrapConnector(name, ctr)), nil
}

// dsnConnector is the connector of a driver that has none, as in sql.Open.
type dsnConnector struct {
	dsn string
	drv driver.Driver
}

func (t dsnConnector) Connect(context.Context) (driver.Conn, error) { return t.drv.Open(t.dsn) }
func (t dsnConnector) Driver() driver.Driver                        { return t.drv }

// WrapConnector returns a connector for sql.OpenDB whose connections time
// and count every operation: db.calls and db.errors (counters) and
// db.duration (timer), tagged db:name and op. A query's time is the time
// to its first result set, not the time spent reading rows. It works with
// any driver: the optional driver interfaces (context methods, Pinger,
// SessionResetter, Validator, NamedValueChecker) are passed through, and
// where the driver lacks one the wrapper answers as database/sql expects
// (driver.ErrSkip), which is not counted as an error.
//
// With a nil Client it returns ctr.
func (c *Client) WrapConnector(name string, ctr driver.Connector) driver.Connector {
	if c == nil {
		return ctr
	}
	return &connector{ctr: ctr, in: &dbInstr{c: c, name: name}}
}

// dbInstr records operations of one instrumented database.
type dbInstr struct {
	c    *Client
	name string
}

func (in *dbInstr) record(op string, start time.Time, err error) {
	if errors.Is(err, driver.ErrSkip) {
		return // not an operation: database/sql retries another way
	}
	tags := [2]Tag{{"db", in.name}, {"op", op}}
	in.c.Incr(DBCalls, tags[:]...)
	in.c.Timing(DBDuration, time.Since(start), tags[:]...)
	if err != nil {
		in.c.Incr(DBErrors, tags[:]...)
	}
}

type connector struct {
	ctr driver.Connector
	in  *dbInstr
}

func (t *connector) Connect(ctx context.Context) (driver.Conn, error) {
	start := time.Now()
	cn, err := t.ctr.Connect(ctx)
	t.in.record("connect", start, err)
	if err != nil {
		return nil, err
	}
	return &conn{Conn: cn, in: t.in}, nil
}

func (t *connector) Driver() driver.Driver { return t.ctr.Driver() }

// Close closes the wrapped connector if it is an io.Closer; sql.DB.Close
// calls it.
func (t *connector) Close() error {
	if cl, ok := t.ctr.(io.Closer); ok {
		return cl.Close()
	}
	return nil
}

// conn wraps a driver.Conn. It implements every optional interface and
// falls back as database/sql would when the wrapped conn lacks one.
type conn struct {
	driver.Conn
	in *dbInstr
}

var (
	_ driver.ConnPrepareContext = (*conn)(nil)
	_ driver.ConnBeginTx        = (*conn)(nil)
	_ driver.ExecerContext      = (*conn)(nil)
	_ driver.QueryerContext     = (*conn)(nil)
	_ driver.Pinger             = (*conn)(nil)
	_ driver.SessionResetter    = (*conn)(nil)
	_ driver.Validator          = (*conn)(nil)
	_ driver.NamedValueChecker  = (*conn)(nil)
)

func (c *conn) Prepare(query string) (driver.Stmt, error) {
	return c.PrepareContext(context.Background(), query)
}

func (c *conn) PrepareContext(ctx context.Context, query string) (driver.Stmt, error) {
	start := time.Now()
	var st driver.Stmt
	var err error
	if pc, ok := c.Conn.(driver.ConnPrepareContext); ok {
		st, err = pc.PrepareContext(ctx, query)
	} else {
		st, err = c.Conn.Prepare(query)
		if err == nil && ctx.Err() != nil {
			st.Close()
			st, err = nil, ctx.Err()
		}
	}
	c.in.record("prepare", start, err)
	if err != nil {
		return nil, err
	}
	return &stmt{Stmt: st, conn: c}, nil
}

func (c *conn) Begin() (driver.Tx, error) {
	return c.BeginTx(context.Background(), driver.TxOptions{})
}

func (c *conn) BeginTx(ctx context.Context, opts driver.TxOptions) (driver.Tx, error) {
	start := time.Now()
	var tx driver.Tx
	var err error
	if bc, ok := c.Conn.(driver.ConnBeginTx); ok {
		tx, err = bc.BeginTx(ctx, opts)
	} else if opts.Isolation != driver.IsolationLevel(sql.LevelDefault) || opts.ReadOnly {
		err = errors.New("clientlib: driver does not support non-default transaction options")
	} else {
		//lint:ignore SA1019 the fallback database/sql uses
		tx, err = c.Conn.Begin()
	}
	c.in.record("begin", start, err)
	if err != nil {
		return nil, err
	}
	return &txn{Tx: tx, in: c.in}, nil
}

func (c *conn) ExecContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Result, error) {
	start := time.Now()
	var res driver.Result
	var err error
	switch e := c.Conn.(type) {
	case driver.ExecerContext:
		res, err = e.ExecContext(ctx, query, args)
	//lint:ignore SA1019 the fallback for legacy drivers
	case driver.Execer:
		var vals []driver.Value
		if vals, err = values(args); err == nil {
			res, err = e.Exec(query, vals)
		}
	default:
		return nil, driver.ErrSkip
	}
	c.in.record("exec", start, err)
	return res, err
}

func (c *conn) QueryContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Rows, error) {
	start := time.Now()
	var rows driver.Rows
	var err error
	switch q := c.Conn.(type) {
	case driver.QueryerContext:
		rows, err = q.QueryContext(ctx, query, args)
	//lint:ignore SA1019 the fallback for legacy drivers
	case driver.Queryer:
		var vals []driver.Value
		if vals, err = values(args); err == nil {
			rows, err = q.Query(query, vals)
		}
	default:
		return nil, driver.ErrSkip
	}
	c.in.record("query", start, err)
	return rows, err
}

func (c *conn) Ping(ctx context.Context) error {
	if p, ok := c.Conn.(driver.Pinger); ok {
		return p.Ping(ctx)
	}
	return nil
}

func (c *conn) ResetSession(ctx context.Context) error {
	if r, ok := c.Conn.(driver.SessionResetter); ok {
		return r.ResetSession(ctx)
	}
	return nil
}

func (c *conn) IsValid() bool {
	if v, ok := c.Conn.(driver.Validator); ok {
		return v.IsValid()
	}
	return true
}

func (c *conn) CheckNamedValue(nv *driver.NamedValue) error {
	if ch, ok := c.Conn.(driver.NamedValueChecker); ok {
		return ch.CheckNamedValue(nv)
	}
	return driver.ErrSkip // database/sql's default conversion
}

// values converts arguments for a legacy driver, which takes no names.
func values(args []driver.NamedValue) ([]driver.Value, error) {
	out := make([]driver.Value, len(args))
	for i, a := range args {
		if a.Name != "" {
			return nil, errors.New("clientlib: driver does not support named arguments")
		}
		out[i] = a.Value
	}
	return out, nil
}

type stmt struct {
	driver.Stmt
	conn *conn
}

var (
	_ driver.StmtExecContext   = (*stmt)(nil)
	_ driver.StmtQueryContext  = (*stmt)(nil)
	_ driver.NamedValueChecker = (*stmt)(nil)
)

func (s *stmt) Exec(args []driver.Value) (driver.Result, error) {
	start := time.Now()
	//lint:ignore SA1019 the driver's own legacy method
	res, err := s.Stmt.Exec(args)
	s.conn.in.record("exec", start, err)
	return res, err
}

func (s *stmt) Query(args []driver.Value) (driver.Rows, error) {
	start := time.Now()
	//lint:ignore SA1019 the driver's own legacy method
	rows, err := s.Stmt.Query(args)
	s.conn.in.record("query", start, err)
	return rows, err
}

func (s *stmt) ExecContext(ctx context.Context, args []driver.NamedValue) (driver.Result, error) {
	ec, ok := s.Stmt.(driver.StmtExecContext)
	if !ok {
		vals, err := values(args)
		if err != nil {
			s.conn.in.record("exec", time.Now(), err)
			return nil, err
		}
		return s.Exec(vals)
	}
	start := time.Now()
	res, err := ec.ExecContext(ctx, args)
	s.conn.in.record("exec", start, err)
	return res, err
}

func (s *stmt) QueryContext(ctx context.Context, args []driver.NamedValue) (driver.Rows, error) {
	qc, ok := s.Stmt.(driver.StmtQueryContext)
	if !ok {
		vals, err := values(args)
		if err != nil {
			s.conn.in.record("query", time.Now(), err)
			return nil, err
		}
		return s.Query(vals)
	}
	start := time.Now()
	rows, err := qc.QueryContext(ctx, args)
	s.conn.in.record("query", start, err)
	return rows, err
}

// CheckNamedValue defers to the statement's checker, then the
// connection's, as database/sql would without the wrapper.
func (s *stmt) CheckNamedValue(nv *driver.NamedValue) error {
	if ch, ok := s.Stmt.(driver.NamedValueChecker); ok {
		return ch.CheckNamedValue(nv)
	}
	return s.conn.CheckNamedValue(nv)
}

// txn wraps a driver.Tx.
type txn struct {
	driver.Tx
	in *dbInstr
}

func (t *txn) Commit() error {
	start := time.Now()
	err := t.Tx.Commit()
	t.in.record("commit", start, err)
	return err
}

func (t *txn) Rollback() error {
	start := time.Now()
	err := t.Tx.Rollback()
	t.in.record("rollback", start, err)
	return err
}

// DBStatsCollector sends a *sql.DB's pool statistics (sql.DBStats) as
// gauges tagged db:name: db.pool.max_open, db.pool.open, db.pool.in_use,
// db.pool.idle, and the totals since the pool opened db.pool.wait_count,
// db.pool.wait_duration (milliseconds), db.pool.max_idle_closed,
// db.pool.max_idle_time_closed and db.pool.max_lifetime_closed.
type DBStatsCollector struct {
	c        *Client
	db       *sql.DB
	name     string
	interval time.Duration
}

// NewDBStatsCollector returns a collector of db's pool statistics that Run
// sends every interval (0 means 10s).
func NewDBStatsCollector(c *Client, db *sql.DB, name string, interval time.Duration) *DBStatsCollector {
	if interval <= 0 {
		interval = 10 * time.Second
	}
	return &DBStatsCollector{c: c, db: db, name: name, interval: interval}
}

// Collect sends the current statistics once.
func (d *DBStatsCollector) Collect() {
	if d.c == nil {
		return
	}
	s := d.db.Stats()
	tag := Tag{"db", d.name}
	d.c.Gauge("db.pool.max_open", float64(s.MaxOpenConnections), tag)
	d.c.Gauge("db.pool.open", float64(s.OpenConnections), tag)
	d.c.Gauge("db.pool.in_use", float64(s.InUse), tag)
	d.c.Gauge("db.pool.idle", float64(s.Idle), tag)
	d.c.Gauge("db.pool.wait_count", float64(s.WaitCount), tag)
	d.c.Gauge("db.pool.wait_duration", float64(s.WaitDuration)/float64(time.Millisecond), tag)
	d.c.Gauge("db.pool.max_idle_closed", float64(s.MaxIdleClosed), tag)
	d.c.Gauge("db.pool.max_idle_time_closed", float64(s.MaxIdleTimeClosed), tag)
	d.c.Gauge("db.pool.max_lifetime_closed", float64(s.MaxLifetimeClosed), tag)
}

// Run collects every interval until ctx is done, then returns nil.
func (d *DBStatsCollector) Run(ctx context.Context) error {
	return every(ctx, d.interval, d.Collect)
}

// every calls f at once and then every interval until ctx is done.
func every(ctx context.Context, interval time.Duration, f func()) error {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		f()
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}
