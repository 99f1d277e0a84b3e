// The Go peer at feature parity with highperf's default stack, written from seed 004's description
// (httprouter, token bucket, circuit breaker, per-handler deadlines, sendfile for files) with the
// middleware that seed leaves as placeholders made real: Prometheus counters and a histogram
// (client_golang), one JSON access-log line per request, X-Request-Id.
//
// Only Debian-packaged modules, built offline in GOPATH mode (bench/peers/index.ts does this):
//
//	apt-get install golang-go golang-github-julienschmidt-httprouter-dev \
//	  golang-github-prometheus-client-golang-dev golang-github-mattn-go-sqlite3-dev golang-golang-x-time-dev
//	GO111MODULE=off GOPATH=/usr/share/gocode go build -o /tmp/go-stack ./bench/peers/go-stack
//
// Settings (env): PORT, HOST, DATA_DIR (users.sqlite), FILES_DIR, ACCESS_LOG (file path, "off"),
// RATE_LIMIT_RPS / RATE_LIMIT_BURST (per client; RPS 0 disables), CB_FAILURE_THRESHOLD,
// CB_OPEN_DURATION_MS, REQUEST_TIMEOUT_MS, TASK_TIMEOUT_MS; GOMAXPROCS as usual.
package main

import (
	"bufio"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/julienschmidt/httprouter"
	_ "github.com/mattn/go-sqlite3"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"golang.org/x/time/rate"
)

func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil {
		return v
	}
	return def
}

func envStr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

// --- errors: the same envelope as highperf ---------------------------------------------------

type errBody struct {
	Error struct {
		Code      string `json:"code"`
		Message   string `json:"message"`
		RequestID string `json:"requestId"`
	} `json:"error"`
}

func writeError(w http.ResponseWriter, r *http.Request, status int, code, message string) {
	var b errBody
	b.Error.Code, b.Error.Message, b.Error.RequestID = code, message, w.Header().Get("X-Request-Id")
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(&b)
}

// --- the response recorder every middleware shares -------------------------------------------

// recorder remembers the status and keeps io.ReaderFrom, so http.ServeContent still reaches
// net/http's sendfile path through it.
type recorder struct {
	http.ResponseWriter
	status  int
	written bool
}

func (r *recorder) WriteHeader(code int) {
	if !r.written {
		r.status, r.written = code, true
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *recorder) Write(b []byte) (int, error) {
	if !r.written {
		r.status, r.written = http.StatusOK, true
	}
	return r.ResponseWriter.Write(b)
}

func (r *recorder) ReadFrom(src io.Reader) (int64, error) {
	if !r.written {
		r.status, r.written = http.StatusOK, true
	}
	return r.ResponseWriter.(io.ReaderFrom).ReadFrom(src)
}

// --- request id + Server header ---------------------------------------------------------------

var safeID = regexp.MustCompile(`^[A-Za-z0-9._:\-]{1,128}$`)
var idPrefix = strconv.FormatInt(time.Now().UnixNano()%2176782336, 36)
var idCounter atomic.Uint64

func requestID(r *http.Request) string {
	if in := r.Header.Get("X-Request-Id"); in != "" && safeID.MatchString(in) {
		return in
	}
	return idPrefix + "-" + strconv.FormatUint(idCounter.Add(1), 10)
}

// --- access log: one JSON line per request, written 64 KiB at a time ---------------------------

type accessLog struct {
	mu  sync.Mutex
	buf *bufio.Writer
	f   *os.File
}

type accessLine struct {
	Time       string  `json:"time"`
	Msg        string  `json:"msg"`
	Method     string  `json:"method"`
	Route      string  `json:"route"`
	Path       string  `json:"path"`
	Status     int     `json:"status"`
	DurationMs float64 `json:"durationMs"`
	RequestID  string  `json:"requestId"`
	Client     string  `json:"client"`
}

func openAccessLog(path string) *accessLog {
	if path == "off" || path == "" {
		return nil
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		panic(err)
	}
	l := &accessLog{buf: bufio.NewWriterSize(f, 64<<10), f: f}
	go func() {
		for range time.Tick(time.Second) {
			l.flush()
		}
	}()
	return l
}

func (l *accessLog) write(line *accessLine) {
	b, _ := json.Marshal(line)
	l.mu.Lock()
	l.buf.Write(b)
	l.buf.WriteByte('\n')
	l.mu.Unlock()
}

func (l *accessLog) flush() {
	l.mu.Lock()
	l.buf.Flush()
	l.mu.Unlock()
}

// --- per-client token bucket ---------------------------------------------------------------------

type limiter struct {
	mu      sync.Mutex
	clients map[string]*rate.Limiter
	rps     rate.Limit
	burst   int
}

func (l *limiter) get(client string) *rate.Limiter {
	l.mu.Lock()
	defer l.mu.Unlock()
	b, ok := l.clients[client]
	if !ok {
		if len(l.clients) > 100_000 { // bounded: forget everyone rather than grow without end
			l.clients = map[string]*rate.Limiter{}
		}
		b = rate.NewLimiter(l.rps, l.burst)
		l.clients[client] = b
	}
	return b
}

// --- circuit breaker per route: N consecutive 5xx open it for a while, then one probe ----------

type breaker struct {
	mu        sync.Mutex
	failures  int
	openUntil time.Time
	probing   bool
	threshold int
	open      time.Duration
}

func (b *breaker) allow() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.failures < b.threshold {
		return true
	}
	if time.Now().Before(b.openUntil) || b.probing {
		return false
	}
	b.probing = true // half-open: this request is the probe
	return true
}

func (b *breaker) record(failed bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.probing = false
	if !failed {
		b.failures = 0
		return
	}
	b.failures++
	if b.failures >= b.threshold {
		b.openUntil = time.Now().Add(b.open)
	}
}

// --- the stack -------------------------------------------------------------------------------------

type policy struct {
	route    string
	deadline time.Duration
	probe    bool // exempt from rate limit and breaker, as highperf's PROBE policy
}

type stack struct {
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
	log      *accessLog
	limit    *limiter
	cbMu     sync.Mutex
	breakers map[string]*breaker
	cbN      int
	cbOpen   time.Duration
}

func (s *stack) breakerOf(route string) *breaker {
	s.cbMu.Lock()
	defer s.cbMu.Unlock()
	b, ok := s.breakers[route]
	if !ok {
		b = &breaker{threshold: s.cbN, open: s.cbOpen}
		s.breakers[route] = b
	}
	return b
}

func clientOf(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// wrap puts the middleware of seed 004 around one route: Server header and request id, recovery,
// metrics and access log, rate limit, breaker, deadline.
func (s *stack) wrap(p policy, h httprouter.Handle) httprouter.Handle {
	br := s.breakerOf(p.route)
	return func(w http.ResponseWriter, r *http.Request, ps httprouter.Params) {
		started := time.Now()
		id := requestID(r)
		hdr := w.Header()
		hdr.Set("Server", "go-stack/1")
		hdr.Set("X-Request-Id", id)
		rec := &recorder{ResponseWriter: w}
		client := clientOf(r)
		defer func() {
			if v := recover(); v != nil {
				if os.Getenv("DEBUG_PANICS") != "" {
					fmt.Fprintln(os.Stderr, v)
				}
				if !rec.written {
					writeError(rec, r, 500, "internal", "Internal server error")
				}
			}
			status := rec.status
			elapsed := time.Since(started)
			labels := prometheus.Labels{"method": r.Method, "route": p.route, "status": strconv.Itoa(status)}
			s.requests.With(labels).Inc()
			s.duration.With(labels).Observe(elapsed.Seconds())
			if !p.probe {
				br.record(status >= 500)
			}
			if s.log != nil {
				s.log.write(&accessLine{
					Time: started.UTC().Format(time.RFC3339Nano), Msg: "request", Method: r.Method, Route: p.route,
					Path: r.URL.Path, Status: status, DurationMs: float64(elapsed.Microseconds()) / 1000, RequestID: id, Client: client,
				})
			}
		}()
		if !p.probe && s.limit != nil {
			b := s.limit.get(client)
			ok := b.Allow()
			hdr.Set("RateLimit-Limit", strconv.Itoa(s.limit.burst))
			hdr.Set("RateLimit-Remaining", strconv.Itoa(int(math.Max(0, b.Tokens()))))
			hdr.Set("RateLimit-Reset", "1")
			if !ok {
				hdr.Set("Retry-After", "1")
				writeError(rec, r, 429, "rate_limited", "Too many requests")
				return
			}
		}
		if !p.probe && !br.allow() {
			writeError(rec, r, 503, "circuit_open", "The route is failing; try again shortly")
			return
		}
		ctx, cancel := context.WithTimeout(r.Context(), p.deadline)
		defer cancel()
		h(rec, r.WithContext(ctx), ps)
		if ctx.Err() == context.DeadlineExceeded && !rec.written {
			writeError(rec, r, 504, "timeout", "The request took longer than its deadline")
		}
	}
}

// --- users on sqlite (the same schema and pragmas as highperf's store) ----------------------------

type user struct {
	ID        int64  `json:"id"`
	Name      string `json:"name"`
	Email     string `json:"email"`
	CreatedAt string `json:"createdAt"`
}

type users struct {
	get, insert *sql.Stmt
}

// openUsers opens the database twice, as Go programs on SQLite usually do: a pool of readers and
// one writer connection, so inserts queue in database/sql (honouring the request's deadline)
// instead of sleeping in SQLite's busy handler against each other.
func openUsers(dir string) *users {
	os.MkdirAll(dir, 0o755)
	dsn := "file:" + filepath.Join(dir, "users.sqlite") + "?_journal_mode=WAL&_synchronous=NORMAL&_busy_timeout=5000"
	open := func() *sql.DB {
		db, err := sql.Open("sqlite3", dsn)
		if err != nil {
			panic(err)
		}
		return db
	}
	reader, writer := open(), open()
	writer.SetMaxOpenConns(1)
	if _, err := writer.Exec(`CREATE TABLE IF NOT EXISTS users (id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT NOT NULL,
		email TEXT NOT NULL, created_at TEXT NOT NULL);
		CREATE UNIQUE INDEX IF NOT EXISTS users_email_nocase ON users (email COLLATE NOCASE);`); err != nil {
		panic(err)
	}
	const cols = "id, name, email, created_at"
	get, err := reader.Prepare("SELECT " + cols + " FROM users WHERE id = ?")
	if err != nil {
		panic(err)
	}
	insert, err := writer.Prepare("INSERT INTO users (name, email, created_at) VALUES (?, ?, ?) ON CONFLICT DO NOTHING RETURNING " + cols)
	if err != nil {
		panic(err)
	}
	return &users{get: get, insert: insert}
}

var digits = regexp.MustCompile(`^[0-9]{1,15}$`)
var emailRe = regexp.MustCompile(`^[^\s@]+@[^\s@]+\.[^\s@]+$`)

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

func (u *users) getUser(w http.ResponseWriter, r *http.Request, ps httprouter.Params) {
	raw := ps.ByName("id")
	if !digits.MatchString(raw) {
		writeError(w, r, 422, "validation_failed", "id: must be a positive integer")
		return
	}
	id, _ := strconv.ParseInt(raw, 10, 64)
	var x user
	err := u.get.QueryRowContext(r.Context(), id).Scan(&x.ID, &x.Name, &x.Email, &x.CreatedAt)
	if errors.Is(err, sql.ErrNoRows) {
		writeError(w, r, 404, "not_found", "user "+raw+" does not exist")
		return
	}
	if r.Context().Err() != nil {
		return // past the deadline (the stack answers 504) or the client left
	}
	if err != nil {
		panic(err)
	}
	writeJSON(w, 200, &x)
}

func (u *users) createUser(w http.ResponseWriter, r *http.Request, _ httprouter.Params) {
	if !strings.HasPrefix(strings.ToLower(r.Header.Get("Content-Type")), "application/json") {
		writeError(w, r, 415, "unsupported_media_type", "POST /users takes an application/json body")
		return
	}
	var in struct {
		Name  *string `json:"name"`
		Email *string `json:"email"`
	}
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 256<<10)).Decode(&in); err != nil {
		writeError(w, r, 400, "invalid_json", "The body is not valid JSON")
		return
	}
	if in.Name == nil || len(strings.TrimSpace(*in.Name)) == 0 || len(strings.TrimSpace(*in.Name)) > 100 {
		writeError(w, r, 422, "validation_failed", "name: 1-100 characters")
		return
	}
	email := ""
	if in.Email != nil {
		email = strings.TrimSpace(*in.Email)
	}
	if !emailRe.MatchString(email) || len(email) > 254 {
		writeError(w, r, 422, "validation_failed", "email: must be an email address")
		return
	}
	var x user
	now := time.Now().UTC().Format("2006-01-02T15:04:05.000Z")
	err := u.insert.QueryRowContext(r.Context(), strings.TrimSpace(*in.Name), email, now).Scan(&x.ID, &x.Name, &x.Email, &x.CreatedAt)
	if errors.Is(err, sql.ErrNoRows) {
		writeError(w, r, 409, "conflict", "email "+email+" is taken")
		return
	}
	if r.Context().Err() != nil {
		return // past the deadline (the stack answers 504) or the client left
	}
	if err != nil {
		panic(err)
	}
	w.Header().Set("Location", "/users/"+strconv.FormatInt(x.ID, 10))
	writeJSON(w, 201, &x)
}

// --- files: ETag + Last-Modified, ranges and 304s by http.ServeContent (sendfile) ----------------

func serveFiles(dir string) httprouter.Handle {
	root, _ := filepath.Abs(dir)
	return func(w http.ResponseWriter, r *http.Request, ps httprouter.Params) {
		rel := strings.TrimPrefix(ps.ByName("path"), "/")
		for _, seg := range strings.Split(rel, "/") {
			if seg == "" || seg[0] == '.' || strings.ContainsAny(seg, "\\\x00") {
				writeError(w, r, 404, "not_found", "No such file")
				return
			}
		}
		f, err := os.Open(filepath.Join(root, rel))
		if err != nil {
			writeError(w, r, 404, "not_found", "No such file")
			return
		}
		defer f.Close()
		st, err := f.Stat()
		if err != nil || !st.Mode().IsRegular() {
			writeError(w, r, 404, "not_found", "No such file")
			return
		}
		w.Header().Set("ETag", fmt.Sprintf(`"%x-%x"`, st.Size(), st.ModTime().UnixMilli()))
		w.Header().Set("Content-Type", "application/octet-stream")
		http.ServeContent(w, r, st.Name(), st.ModTime(), f)
	}
}

// --- POST /tasks/primes: the handler's goroutine does the work (one per request) -----------------

func countPrimesBelow(ctx context.Context, n int) (int, error) {
	if n <= 2 {
		return 0, nil
	}
	limit := int(math.Sqrt(float64(n - 1)))
	composite := make([]bool, limit+1)
	var base []int
	for i := 2; i <= limit; i++ {
		if !composite[i] {
			base = append(base, i)
			for j := i * i; j <= limit; j += i {
				composite[j] = true
			}
		}
	}
	next := make([]int, len(base))
	for i, p := range base {
		next[i] = p * p
	}
	const segment = 32 * 1024
	seg := make([]bool, segment)
	count := 0
	for low := 2; low < n; low += segment {
		if ctx.Err() != nil {
			return 0, ctx.Err()
		}
		high := low + segment
		if high > n {
			high = n
		}
		length := high - low
		for k := 0; k < length; k++ {
			seg[k] = false
		}
		for i, p := range base {
			j := next[i] - low
			if j >= length {
				continue
			}
			for ; j < length; j += p {
				seg[j] = true
			}
			next[i] = j + low
		}
		for k := 0; k < length; k++ {
			if !seg[k] {
				count++
			}
		}
	}
	return count, nil
}

func primes(w http.ResponseWriter, r *http.Request, _ httprouter.Params) {
	var in struct {
		N *int `json:"n"`
	}
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 256<<10)).Decode(&in); err != nil {
		writeError(w, r, 400, "invalid_json", "The body is not valid JSON")
		return
	}
	if in.N == nil || *in.N < 0 || *in.N > 1_000_000_000 {
		writeError(w, r, 422, "validation_failed", "n: an integer 0-1000000000")
		return
	}
	count, err := countPrimesBelow(r.Context(), *in.N)
	if err != nil {
		return // the deadline: the stack answers 504
	}
	writeJSON(w, 200, map[string]int{"n": *in.N, "count": count})
}

func main() {
	reg := prometheus.NewRegistry()
	reg.MustRegister(prometheus.NewGoCollector(), prometheus.NewProcessCollector(prometheus.ProcessCollectorOpts{}))
	labels := []string{"method", "route", "status"}
	s := &stack{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "http_requests_total", Help: "HTTP requests answered"}, labels),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "http_request_duration_seconds", Help: "Time to answer",
			Buckets: []float64{0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10},
		}, labels),
		log:      openAccessLog(envStr("ACCESS_LOG", "off")),
		breakers: map[string]*breaker{},
		cbN:      envInt("CB_FAILURE_THRESHOLD", 20),
		cbOpen:   time.Duration(envInt("CB_OPEN_DURATION_MS", 2000)) * time.Millisecond,
	}
	reg.MustRegister(s.requests, s.duration)
	if rps := envInt("RATE_LIMIT_RPS", 1000); rps > 0 {
		s.limit = &limiter{clients: map[string]*rate.Limiter{}, rps: rate.Limit(rps), burst: envInt("RATE_LIMIT_BURST", 2000)}
	}
	reqTimeout := time.Duration(envInt("REQUEST_TIMEOUT_MS", 100)) * time.Millisecond
	hot := reqTimeout * 8 / 10
	taskTimeout := time.Duration(envInt("TASK_TIMEOUT_MS", 30000)) * time.Millisecond
	u := openUsers(envStr("DATA_DIR", "./data"))

	router := httprouter.New()
	router.GET("/healthz", s.wrap(policy{route: "/healthz", deadline: reqTimeout, probe: true}, func(w http.ResponseWriter, _ *http.Request, _ httprouter.Params) {
		w.Header().Set("Content-Type", "text/plain;charset=utf-8")
		w.Write([]byte("ok"))
	}))
	metrics := promhttp.HandlerFor(reg, promhttp.HandlerOpts{})
	router.GET("/metrics", s.wrap(policy{route: "/metrics", deadline: time.Hour, probe: true}, func(w http.ResponseWriter, r *http.Request, _ httprouter.Params) {
		metrics.ServeHTTP(w, r)
	}))
	router.GET("/users/:id", s.wrap(policy{route: "/users/:id", deadline: hot}, u.getUser))
	router.POST("/users", s.wrap(policy{route: "/users", deadline: reqTimeout}, u.createUser))
	router.GET("/files/*path", s.wrap(policy{route: "/files/*", deadline: time.Hour}, serveFiles(envStr("FILES_DIR", "./public"))))
	router.POST("/tasks/primes", s.wrap(policy{route: "/tasks/:name", deadline: taskTimeout}, primes))

	srv := &http.Server{
		Addr:         envStr("HOST", "127.0.0.1") + ":" + envStr("PORT", "8080"),
		Handler:      router,
		ReadTimeout:  2 * time.Second,
		WriteTimeout: 60 * time.Second,
		IdleTimeout:  60 * time.Second,
	}
	go func() {
		sig := make(chan os.Signal, 1)
		signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
		<-sig
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
	}()
	if err := srv.ListenAndServe(); err != nil && err != http.ErrServerClosed {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	if s.log != nil {
		s.log.flush()
	}
}
