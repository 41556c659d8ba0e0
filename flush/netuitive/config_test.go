package netuitive

import (
	"flag"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/pelletier/go-toml/v2"
)

var secretEq = cmp.Comparer(func(a, b Secret) bool { return a.Reveal() == b.Reveal() })

func TestConfigTOML(t *testing.T) {
	const file = `
url = "https://api.app.metricly.com/ingest/infrastructure"
api_key = "0123456789abcdef"
element_id = "web-01"
element_type = "WEB"
location = "eu-west-1"
mapping = "netuitive-statsd"
prefix = "app"
max_metrics_per_post = 500
posts_per_minute = 20
timeout = "5s"
queue_limit = 1000
check_name = "heartbeat"
check_ttl = "150s"

[tags]
env = "prod"

[attributes]
team = "web"
`
	var got Config
	dec := toml.NewDecoder(strings.NewReader(file))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&got); err != nil {
		t.Fatal(err)
	}
	want := Config{
		URL: "https://api.app.metricly.com/ingest/infrastructure", APIKey: NewSecret("0123456789abcdef"),
		ElementID: "web-01", ElementType: "WEB", Location: "eu-west-1", Mapping: MappingNetuitiveStatsd, Prefix: "app",
		MaxMetricsPerPost: 500, PostsPerMinute: 20, Timeout: Duration(5 * time.Second), QueueLimit: 1000,
		CheckName: "heartbeat", CheckTTL: Duration(150 * time.Second),
		Tags: map[string]string{"env": "prod"}, Attributes: map[string]string{"team": "web"},
	}
	if diff := cmp.Diff(want, got, secretEq); diff != "" {
		t.Errorf("decoded config (-want +got):\n%s", diff)
	}
	// A dump redacts the key and round-trips the durations.
	out, err := toml.Marshal(got)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(out), "0123456789abcdef") || !strings.Contains(string(out), `check_ttl = '2m30s'`) {
		t.Errorf("dump:\n%s", out)
	}
	dec = toml.NewDecoder(strings.NewReader("api_kee = \"x\"\n"))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&got); err == nil {
		t.Error("unknown key accepted")
	}
}

func TestConfigZeroDefaults(t *testing.T) {
	r, err := Config{APIKey: NewSecret("k")}.resolve(noEnv, func() (string, error) { return "my host.example", nil })
	if err != nil {
		t.Fatal(err)
	}
	got := []any{r.URL, r.ElementID, r.ElementName, r.ElementType, r.Mapping, r.prefix, r.MaxMetricsPerPost,
		r.PostsPerMinute, time.Duration(r.Timeout), r.QueueLimit, r.CheckName, time.Duration(r.CheckTTL)}
	want := []any{DefaultURL, "my_host.example", "my_host.example", "SERVER", MappingDefault, "statsd.", DefaultMaxMetricsPerPost,
		float64(DefaultPostsPerMinute), DefaultTimeout, DefaultQueueLimit, DefaultCheckName, time.Duration(0)}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("defaults (-want +got):\n%s", diff)
	}
	r, _ = Config{APIKey: NewSecret("k"), ElementID: "h", NoPrefix: true}.resolve(noEnv, noHost)
	if r.prefix != "" {
		t.Errorf("no_prefix: prefix %q", r.prefix)
	}
}

func TestRegisterFlags(t *testing.T) {
	cfg := Config{ElementType: "FROM_FILE"}
	fs := flag.NewFlagSet("x", flag.ContinueOnError)
	cfg.RegisterFlags(fs)
	err := fs.Parse([]string{"-netuitive-url", "http://127.0.0.1:8000/ingest", "-netuitive-mapping", "netuitive-statsd",
		"-netuitive-timeout", "3s", "-netuitive-check-ttl", "2m", "-netuitive-no-check-in", "-netuitive-max-metrics-per-post", "7"})
	if err != nil {
		t.Fatal(err)
	}
	want := Config{URL: "http://127.0.0.1:8000/ingest", Mapping: MappingNetuitiveStatsd, ElementType: "FROM_FILE",
		Timeout: Duration(3 * time.Second), CheckTTL: Duration(2 * time.Minute), NoCheckIn: true, MaxMetricsPerPost: 7}
	if diff := cmp.Diff(want, cfg, secretEq); diff != "" {
		t.Errorf("flags (-want +got):\n%s", diff)
	}
	if fs.Lookup("netuitive-api-key") != nil {
		t.Error("the API key must not be a flag")
	}
}
