package main

import (
	"bufio"
	"flag"
	"io"
	"os"
	"os/exec"
	"path"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// The files of packaging/ and deploy/ are checked against the command they
// run: every flag and CONVOPS_* variable they give is one `convops serve`
// takes, with a value it accepts; the layout is docs/cluster.md's (three
// NATS servers, two shards of two nodes); the image's user is the one the
// Kubernetes pods run as, with the secret's mode and group that auth's rule
// for a keys file takes (its group, the pod's, may read it).

// serveFlagNames returns the names of serve's flags.
func serveFlagNames(t *testing.T) map[string]bool {
	t.Helper()
	names := map[string]bool{}
	m := &Main{Stdout: io.Discard, Stderr: io.Discard, Getenv: func(string) string { return "" }}
	c := NewServeCommand(m)
	// -h lists the flags: parse it, and read them from the flag set's usage.
	var usage strings.Builder
	m.Stderr = &usage
	if err := c.ParseFlags([]string{"-h"}); err != flag.ErrHelp {
		t.Fatalf("serve -h: %v", err)
	}
	for _, match := range regexp.MustCompile(`(?m)^  -([a-z0-9-]+)`).FindAllStringSubmatch(usage.String(), -1) {
		names[match[1]] = true
	}
	if !names["listen"] || !names["shard"] {
		t.Fatalf("serve's flags not read from -h: %v", names)
	}
	return names
}

// parseServe parses a serve command line with env, as the server would.
func parseServe(t *testing.T, where string, args []string, env map[string]string) *ServeCommand {
	t.Helper()
	c := NewServeCommand(&Main{Stdout: io.Discard, Stderr: io.Discard, Getenv: func(k string) string { return env[k] }})
	if err := c.ParseFlags(args); err != nil {
		t.Fatalf("%s: serve %v with %v: %v", where, args, env, err)
	}
	return c
}

// checkEnvNames fails for a CONVOPS_* name that is no serve flag's.
func checkEnvNames(t *testing.T, where string, names []string, flags map[string]bool) {
	t.Helper()
	for _, name := range names {
		flagName := strings.ReplaceAll(strings.ToLower(strings.TrimPrefix(name, "CONVOPS_")), "_", "-")
		if !flags[flagName] {
			t.Errorf("%s: %s names no flag of convops serve", where, name)
		}
	}
}

func readYAMLDocs(t *testing.T, name string) []map[string]any {
	t.Helper()
	f, err := os.Open(name)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var docs []map[string]any
	d := yaml.NewDecoder(f)
	for {
		var doc map[string]any
		if err := d.Decode(&doc); err == io.EOF {
			return docs
		} else if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if doc != nil {
			docs = append(docs, doc)
		}
	}
}

// at walks a decoded YAML document: at(doc, "spec", "template", 0, ...).
func at(v any, keys ...any) any {
	for _, k := range keys {
		switch k := k.(type) {
		case string:
			m, _ := v.(map[string]any)
			v = m[k]
		case int:
			l, _ := v.([]any)
			if k >= len(l) {
				return nil
			}
			v = l[k]
		}
	}
	return v
}

func strs(v any) []string {
	var out []string
	for _, x := range v.([]any) {
		out = append(out, x.(string))
	}
	return out
}

// imageUser reads the Containerfile's USER (uid:gid) and its data volume.
func imageUser(t *testing.T) (user, volume string) {
	t.Helper()
	data, err := os.ReadFile("../../packaging/Containerfile")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(data), "\n") {
		if f := strings.Fields(line); len(f) == 2 && f[0] == "USER" {
			user = f[1]
		} else if len(f) == 2 && f[0] == "VOLUME" {
			volume = f[1]
		}
	}
	if user == "" || strings.HasPrefix(user, "0") || user == "root" || volume != "/data" {
		t.Fatalf("the Containerfile's user %q (want a non-root uid:gid), volume %q", user, volume)
	}
	return user, volume
}

func TestSystemdUnitAndEnvFile(t *testing.T) {
	flags := serveFlagNames(t)
	unit, err := os.ReadFile("../../packaging/convops.service")
	if err != nil {
		t.Fatal(err)
	}
	keys := map[string][]string{}
	for _, line := range strings.Split(string(unit), "\n") {
		if k, v, ok := strings.Cut(line, "="); ok && !strings.HasPrefix(line, "#") {
			keys[k] = append(keys[k], v)
		}
	}
	for _, want := range []string{"User", "StateDirectory", "ProtectSystem", "NoNewPrivileges", "Restart", "ExecReload", "EnvironmentFile", "ExecStart"} {
		if len(keys[want]) == 0 {
			t.Errorf("the unit has no %s=", want)
		}
	}
	if keys["ProtectSystem"][0] != "strict" || keys["NoNewPrivileges"][0] != "yes" || keys["User"][0] == "root" {
		t.Errorf("the unit is not hardened as it should be: %v", keys)
	}
	env := map[string]string{}
	var names []string
	for _, kv := range strings.Fields(keys["Environment"][0]) {
		k, v, _ := strings.Cut(kv, "=")
		env[k] = v
		names = append(names, k)
	}
	envFile, err := os.Open("../../packaging/convops.env")
	if err != nil {
		t.Fatal(err)
	}
	defer envFile.Close()
	// Every variable the file sets or shows commented out is a flag's.
	variable := regexp.MustCompile(`^#?(CONVOPS_[A-Z0-9_]+)=(.*)$`)
	for sc := bufio.NewScanner(envFile); sc.Scan(); {
		if m := variable.FindStringSubmatch(sc.Text()); m != nil {
			names = append(names, m[1])
			if !strings.HasPrefix(sc.Text(), "#") {
				env[m[1]] = m[2]
			}
		}
	}
	checkEnvNames(t, "convops.service and convops.env", names, flags)
	exec := strings.Fields(keys["ExecStart"][0])
	if exec[0] != "/usr/bin/convops" || exec[1] != "serve" {
		t.Fatalf("ExecStart=%v", exec)
	}
	c := parseServe(t, "the unit", exec[2:], env)
	if c.DataDir != "/var/lib/"+keys["StateDirectory"][0] || c.KeysPath != "/etc/convops/keys.json" || !strings.HasPrefix(c.Listen, "127.0.0.1:") {
		t.Errorf("the unit's server: data dir %s (state directory %s), keys %s, listen %s", c.DataDir, keys["StateDirectory"][0], c.KeysPath, c.Listen)
	}
}

func TestComposeFile(t *testing.T) {
	flags := serveFlagNames(t)
	docs := readYAMLDocs(t, "../../deploy/compose.yaml")
	services := docs[0]["services"].(map[string]any)
	var nats []string
	for name := range services {
		if strings.HasPrefix(name, "nats-") {
			nats = append(nats, name)
		}
	}
	slices.Sort(nats)
	if len(nats) != 3 {
		t.Fatalf("NATS servers %v, want three", nats)
	}
	for _, name := range nats {
		cmd := strings.Join(strs(at(services, name, "command")), " ")
		for _, other := range nats {
			if other != name && !strings.Contains(cmd, "nats://"+other+":6222") {
				t.Errorf("%s does not route to %s: %s", name, other, cmd)
			}
		}
		if !strings.Contains(cmd, "--jetstream") || !strings.Contains(cmd, "--cluster_name=convops") {
			t.Errorf("%s: %s", name, cmd)
		}
	}
	shards := map[string]int{}
	volumes, ports := map[string]bool{}, map[string]bool{}
	for name := range services {
		if !strings.HasPrefix(name, "convops-") {
			continue
		}
		env := map[string]string{}
		var names []string
		for k, v := range at(services, name, "environment").(map[string]any) {
			env[k] = v.(string)
			names = append(names, k)
		}
		checkEnvNames(t, name, names, flags)
		args := strs(at(services, name, "command"))
		if args[0] != "serve" {
			t.Fatalf("%s: %v", name, args)
		}
		c := parseServe(t, name, args[1:], env)
		shards[c.ShardFlag]++
		for _, n := range nats {
			if !strings.Contains(c.NATSURL, "nats://"+n+":4222") {
				t.Errorf("%s: --nats-url %s lacks %s", name, c.NATSURL, n)
			}
		}
		var data, keys bool
		for _, v := range strs(at(services, name, "volumes")) {
			parts := strings.Split(v, ":")
			switch {
			case parts[1] == "/data":
				data = !volumes[parts[0]]
				volumes[parts[0]] = true
			case parts[1] == path.Dir(c.KeysPath) && strings.HasPrefix(parts[0], "./"):
				keys = true
			}
		}
		if !data || !keys {
			t.Errorf("%s: a /data volume of its own %v, the keys' directory mounted at %s %v", name, data, path.Dir(c.KeysPath), keys)
		}
		for _, p := range strs(at(services, name, "ports")) {
			if !strings.HasPrefix(p, "127.0.0.1:") || ports[p] || !strings.HasSuffix(p, ":"+strings.Split(c.Listen, ":")[1]) {
				t.Errorf("%s: port %s (listening on %s)", name, p, c.Listen)
			}
			ports[p] = true
		}
	}
	if len(shards) != 2 || shards["0/2"] != 2 || shards["1/2"] != 2 {
		t.Errorf("shards %v, want two of two nodes", shards)
	}
}

func TestKubernetesManifests(t *testing.T) {
	flags := serveFlagNames(t)
	user, volume := imageUser(t)
	uid, gid, _ := strings.Cut(user, ":")
	var docs []map[string]any
	for _, f := range []string{"nats.yaml", "convops.yaml"} {
		docs = append(docs, readYAMLDocs(t, "../../deploy/kubernetes/"+f)...)
	}
	shards := map[string]int{}
	var natsReplicas int
	var routes string
	services := map[string]bool{}
	for _, d := range docs {
		if d["kind"] == "Service" {
			services[at(d, "metadata", "name").(string)] = true
		}
	}
	for _, d := range docs {
		name := at(d, "metadata", "name").(string)
		switch {
		case d["kind"] == "ConfigMap" && name == "nats-config":
			routes = at(d, "data", "nats.conf").(string)
		case d["kind"] == "StatefulSet" && name == "nats":
			natsReplicas = at(d, "spec", "replicas").(int)
		case d["kind"] == "StatefulSet":
			pod := at(d, "spec", "template", "spec")
			ctr := at(pod, "containers", 0)
			env := map[string]string{}
			var names []string
			for _, e := range at(ctr, "env").([]any) {
				name := at(e, "name").(string)
				value, _ := at(e, "value").(string)
				// As the kubelet expands $(VAR) of the variables before.
				env[name] = strings.ReplaceAll(value, "$(POD_NAMESPACE)", "default")
				if strings.HasPrefix(name, "CONVOPS_") {
					names = append(names, name)
				}
			}
			checkEnvNames(t, name, names, flags)
			args := strs(at(ctr, "args"))
			c := parseServe(t, name, args[1:], env)
			shards[c.ShardFlag] += at(d, "spec", "replicas").(int)
			// Clients call the Service by its names: the server must answer
			// for them (others get 421).
			for _, host := range []string{"convops", "convops.default.svc.cluster.local"} {
				if !slices.Contains(splitList(c.AllowedHosts), host) {
					t.Errorf("%s: --allowed-hosts %q lacks the Service's name %s", name, c.AllowedHosts, host)
				}
			}
			if at(d, "spec", "serviceName") != name || !services[name] {
				t.Errorf("%s: its governing Service %v is not among %v", name, at(d, "spec", "serviceName"), services)
			}
			if c.DataDir != volume {
				t.Errorf("%s: data dir %s, the image's volume %s", name, c.DataDir, volume)
			}
			if got := at(pod, "securityContext", "runAsUser"); itoaAny(got) != uid ||
				itoaAny(at(pod, "securityContext", "fsGroup")) != gid || itoaAny(at(pod, "securityContext", "runAsGroup")) != gid {
				t.Errorf("%s: runs as %v (fsGroup %v), the image as %s", name, got, at(pod, "securityContext", "fsGroup"), user)
			}
			// The secret's files are root:<fsGroup> with this mode: the
			// server takes them only if its group alone may read them.
			var keysMount string
			for _, m := range at(ctr, "volumeMounts").([]any) {
				if at(m, "name") == "keys" {
					keysMount = at(m, "mountPath").(string)
				}
			}
			for _, v := range at(pod, "volumes").([]any) {
				if at(v, "name") == "keys" && (at(v, "secret", "defaultMode") != 0o440 || at(v, "secret", "secretName") != "convops-keys") {
					t.Errorf("%s: keys volume %v, want the secret convops-keys with mode 0440", name, v)
				}
			}
			if keysMount != path.Dir(c.KeysPath) {
				t.Errorf("%s: --keys %s, the secret mounted at %s", name, c.KeysPath, keysMount)
			}
			port := strings.Split(c.Listen, ":")[1]
			if itoaAny(at(ctr, "ports", 0, "containerPort")) != port || at(ctr, "readinessProbe", "httpGet", "path") != "/readyz" || at(ctr, "livenessProbe", "httpGet", "path") != "/healthz" {
				t.Errorf("%s: port %v, probes %v %v (listening on %s)", name, at(ctr, "ports"), at(ctr, "readinessProbe"), at(ctr, "livenessProbe"), c.Listen)
			}
		}
	}
	if natsReplicas != 3 || strings.Count(routes, "nats://nats-") != 3 {
		t.Errorf("NATS: %d replicas, routes %q", natsReplicas, routes)
	}
	if len(shards) != 2 || shards["0/2"] != 2 || shards["1/2"] != 2 {
		t.Errorf("shards %v, want two of two nodes", shards)
	}
	// kubectl, where there is one, builds them as `kubectl apply -k` would.
	if kubectl, err := exec.LookPath("kubectl"); err == nil {
		out, err := exec.Command(kubectl, "kustomize", "../../deploy/kubernetes").CombinedOutput()
		if err != nil || strings.Count(string(out), "\nkind: StatefulSet") != 3 {
			t.Errorf("kubectl kustomize: %v\n%s", err, out)
		}
	}
}

func itoaAny(v any) string {
	if n, ok := v.(int); ok {
		return strconv.Itoa(n)
	}
	return ""
}
