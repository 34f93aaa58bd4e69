// Command serin-controlplane starts a real Kubernetes control plane on loopback for serin's tests: etcd,
// kube-apiserver, kube-controller-manager, kube-scheduler and KWOK (pods scheduled to fake nodes become Ready
// without containers). It generates certificates and an admin token, writes a kubeconfig, waits until the
// cluster is usable, prints "kubeconfig: PATH" and keeps running until it is interrupted (or, with
// -watch-stdin, until its standard input closes), then stops every process it started.
package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	_ "embed"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"
)

//go:embed kwok.yaml
var kwokConfig []byte

// The user of the admin token, in system:masters.
const adminUser = "serin-admin"

func main() {
	dir := flag.String("dir", "", "state directory (certificates, etcd data, logs, kubeconfig); default: a new temporary one")
	binDir := flag.String("bin-dir", "", "directory of the control-plane binaries (default: this binary's)")
	watchStdin := flag.Bool("watch-stdin", false, "stop when standard input closes (for test harnesses)")
	keep := flag.Bool("keep", false, "keep the state directory when stopping")
	nodes := flag.Int("nodes", 2, "fake nodes to create")
	flag.Parse()

	if err := run(*dir, *binDir, *watchStdin, *keep, *nodes); err != nil {
		fmt.Fprintf(os.Stderr, "serin-controlplane: %v\n", err)
		os.Exit(1)
	}
}

func run(dir, binDir string, watchStdin, keep bool, nodes int) error {
	if binDir == "" {
		self, err := os.Executable()
		if err != nil {
			return err
		}
		binDir = filepath.Dir(self)
	}
	temporary := dir == ""
	if temporary {
		d, err := os.MkdirTemp("", "serin-controlplane-")
		if err != nil {
			return err
		}
		dir = d
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	cp := &controlPlane{dir: dir, bin: binDir}
	defer func() {
		cp.stop()
		if temporary && !keep {
			os.RemoveAll(dir)
		}
	}()

	ctx, cancel := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM, syscall.SIGHUP)
	defer cancel()
	if watchStdin {
		go func() {
			io.Copy(io.Discard, os.Stdin)
			cancel()
		}()
	}
	go func() {
		// A component that exits on its own leaves the cluster unusable: stop everything.
		err := <-cp.exited
		fmt.Fprintf(os.Stderr, "serin-controlplane: %v\n", err)
		cancel()
	}()

	start := time.Now()
	kubeconfig, err := cp.start(ctx, nodes)
	if err != nil {
		return err
	}
	fmt.Printf("kubeconfig: %s\n", kubeconfig)
	fmt.Printf("ready in %.1fs; logs in %s\n", time.Since(start).Seconds(), filepath.Join(dir, "logs"))
	<-ctx.Done()
	return nil
}

type controlPlane struct {
	dir, bin string
	mu       sync.Mutex
	procs    []*exec.Cmd
	exited   chan error
	stopping bool
}

func (cp *controlPlane) path(parts ...string) string {
	return filepath.Join(append([]string{cp.dir}, parts...)...)
}

func (cp *controlPlane) start(ctx context.Context, nodes int) (string, error) {
	cp.exited = make(chan error, 8)
	for _, d := range []string{"pki", "logs", "etcd"} {
		if err := os.MkdirAll(cp.path(d), 0o700); err != nil {
			return "", err
		}
	}
	pki, err := writePKI(cp.path("pki"))
	if err != nil {
		return "", fmt.Errorf("certificates: %w", err)
	}
	ports, err := freePorts(3)
	if err != nil {
		return "", err
	}
	etcdClient, etcdPeer, apiPort := ports[0], ports[1], ports[2]
	server := fmt.Sprintf("https://127.0.0.1:%d", apiPort)
	kubeconfig := cp.path("kubeconfig")
	if err := writeKubeconfig(kubeconfig, server, pki); err != nil {
		return "", err
	}

	etcdURL := fmt.Sprintf("http://127.0.0.1:%d", etcdClient)
	peerURL := fmt.Sprintf("http://127.0.0.1:%d", etcdPeer)
	if err := cp.spawn("etcd",
		"--name=serin", "--data-dir="+cp.path("etcd"),
		"--listen-client-urls="+etcdURL, "--advertise-client-urls="+etcdURL,
		"--listen-peer-urls="+peerURL, "--initial-advertise-peer-urls="+peerURL,
		"--initial-cluster=serin="+peerURL,
		"--unsafe-no-fsync", "--quota-backend-bytes=8589934592", "--log-level=warn",
	); err != nil {
		return "", err
	}
	if err := waitHTTP(ctx, "etcd", etcdURL+"/health", nil, ""); err != nil {
		return "", err
	}

	if err := cp.spawn("kube-apiserver",
		"--etcd-servers="+etcdURL,
		"--bind-address=127.0.0.1", "--advertise-address=127.0.0.1", fmt.Sprintf("--secure-port=%d", apiPort),
		"--tls-cert-file="+pki.serverCert, "--tls-private-key-file="+pki.serverKey,
		"--client-ca-file="+pki.caCert,
		"--token-auth-file="+pki.tokens,
		"--authorization-mode=RBAC",
		"--service-account-issuer=https://kubernetes.default.svc.cluster.local",
		"--service-account-key-file="+pki.saPub, "--service-account-signing-key-file="+pki.saKey,
		"--service-cluster-ip-range=10.96.0.0/16",
		"--allow-privileged=true",
		"--cert-dir="+cp.path("pki", "generated"),
		"--profiling=false",
		// Tests create and delete many objects quickly; the defaults would throttle them.
		"--max-requests-inflight=2000", "--max-mutating-requests-inflight=1000",
	); err != nil {
		return "", err
	}
	tlsConfig, err := pki.clientTLS()
	if err != nil {
		return "", err
	}
	if err := waitHTTP(ctx, "kube-apiserver", server+"/readyz", tlsConfig, pki.token); err != nil {
		return "", err
	}

	if err := cp.spawn("kube-controller-manager",
		"--kubeconfig="+kubeconfig,
		"--controllers="+strings.Join([]string{
			"replicaset-controller", "deployment-controller", "garbage-collector-controller",
			"namespace-controller", "serviceaccount-controller", "serviceaccount-token-controller",
			"job-controller", "ttl-after-finished-controller", "root-ca-certificate-publisher-controller",
			"endpointslice-controller", "disruption-controller", "pod-garbage-collector-controller",
			"horizontal-pod-autoscaler-controller",
		}, ","),
		"--service-account-private-key-file="+pki.saKey, "--root-ca-file="+pki.caCert,
		"--use-service-account-credentials=false",
		"--leader-elect=false", "--secure-port=0",
		"--kube-api-qps=500", "--kube-api-burst=1000",
		"--concurrent-replicaset-syncs=10", "--concurrent-gc-syncs=20",
	); err != nil {
		return "", err
	}
	if err := cp.spawn("kube-scheduler",
		"--kubeconfig="+kubeconfig, "--leader-elect=false", "--secure-port=0",
		"--kube-api-qps=500", "--kube-api-burst=1000",
	); err != nil {
		return "", err
	}
	kwokPath := cp.path("kwok.yaml")
	if err := os.WriteFile(kwokPath, kwokConfig, 0o600); err != nil {
		return "", err
	}
	if err := cp.spawn("kwok",
		"--kubeconfig="+kubeconfig, "--config="+kwokPath,
		"--manage-all-nodes=false",
		"--manage-nodes-with-annotation-selector=kwok.x-k8s.io/node=fake",
		"--node-ip=10.244.0.1", "--cidr=10.244.0.0/16",
		"--server-address=127.0.0.1:0",
	); err != nil {
		return "", err
	}
	api := &apiClient{server: server, token: pki.token, tls: tlsConfig}
	for i := 0; i < nodes; i++ {
		if err := api.createNode(ctx, fmt.Sprintf("kwok-node-%d", i)); err != nil {
			return "", fmt.Errorf("creating fake node: %w", err)
		}
	}
	// Usable: the fake nodes are Ready and namespaces get their default ServiceAccount, so a Pod can be
	// created at once.
	if err := api.waitFor(ctx, "nodes Ready", func() (bool, error) { return api.nodesReady(ctx, nodes) }); err != nil {
		return "", err
	}
	if err := api.waitFor(ctx, "the default ServiceAccount", func() (bool, error) {
		return api.exists(ctx, "/api/v1/namespaces/default/serviceaccounts/default")
	}); err != nil {
		return "", err
	}
	return kubeconfig, nil
}

// spawn starts one component with its output in logs/<name>.log.
func (cp *controlPlane) spawn(name string, args ...string) error {
	log, err := os.Create(cp.path("logs", name+".log"))
	if err != nil {
		return err
	}
	cmd := exec.Command(filepath.Join(cp.bin, name), args...)
	cmd.Stdout, cmd.Stderr = log, log
	// The component dies with this process even if it is killed outright.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL, Setpgid: true}
	if err := cmd.Start(); err != nil {
		log.Close()
		return fmt.Errorf("starting %s: %w", name, err)
	}
	cp.mu.Lock()
	cp.procs = append(cp.procs, cmd)
	cp.mu.Unlock()
	go func() {
		err := cmd.Wait()
		log.Close()
		cp.mu.Lock()
		stopping := cp.stopping
		cp.mu.Unlock()
		if !stopping {
			cp.exited <- fmt.Errorf("%s exited (%v); its log: %s\n%s", name, err, log.Name(), tail(log.Name(), 20))
		}
	}()
	return nil
}

// stop terminates the components in reverse start order, killing any that outlive a grace period.
func (cp *controlPlane) stop() {
	cp.mu.Lock()
	cp.stopping = true
	procs := cp.procs
	cp.mu.Unlock()
	for i := len(procs) - 1; i >= 0; i-- {
		p := procs[i].Process
		syscall.Kill(-p.Pid, syscall.SIGTERM)
		done := make(chan struct{})
		go func() {
			for {
				if err := syscall.Kill(p.Pid, 0); err != nil {
					close(done)
					return
				}
				time.Sleep(20 * time.Millisecond)
			}
		}()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			syscall.Kill(-p.Pid, syscall.SIGKILL)
		}
	}
}

func tail(path string, lines int) string {
	data, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	all := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	if len(all) > lines {
		all = all[len(all)-lines:]
	}
	return strings.Join(all, "\n")
}

func freePorts(n int) ([]int, error) {
	var ports []int
	var listeners []net.Listener
	defer func() {
		for _, l := range listeners {
			l.Close()
		}
	}()
	for i := 0; i < n; i++ {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		listeners = append(listeners, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

// waitHTTP polls url until it answers 200, for at most two minutes.
func waitHTTP(ctx context.Context, what, url string, tlsConfig *tls.Config, token string) error {
	client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: tlsConfig}}
	deadline := time.Now().Add(2 * time.Minute)
	var last string
	for time.Now().Before(deadline) {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := client.Do(req)
		if err == nil {
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			last = fmt.Sprintf("%d %s", resp.StatusCode, strings.TrimSpace(string(body)))
		} else {
			last = err.Error()
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting for %s: %w", what, ctx.Err())
		case <-time.After(200 * time.Millisecond):
		}
	}
	return fmt.Errorf("%s not ready after 2 minutes: %s", what, last)
}

type pkiFiles struct {
	caCert, serverCert, serverKey, saKey, saPub, tokens, token string
	caPEM                                                      []byte
}

func (p *pkiFiles) clientTLS() (*tls.Config, error) {
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(p.caPEM) {
		return nil, errors.New("bad CA certificate")
	}
	return &tls.Config{RootCAs: pool}, nil
}

// writePKI makes a CA, a serving certificate for the loopback API server, the service-account signing key and
// a static token for the admin user (in system:masters).
func writePKI(dir string) (*pkiFiles, error) {
	p := &pkiFiles{
		caCert: filepath.Join(dir, "ca.crt"), serverCert: filepath.Join(dir, "apiserver.crt"),
		serverKey: filepath.Join(dir, "apiserver.key"), saKey: filepath.Join(dir, "sa.key"),
		saPub: filepath.Join(dir, "sa.pub"), tokens: filepath.Join(dir, "tokens.csv"),
	}
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	now := time.Now()
	caTemplate := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "serin-test-ca"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(10 * 365 * 24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTemplate, caTemplate, &caKey.PublicKey, caKey)
	if err != nil {
		return nil, err
	}
	ca, err := x509.ParseCertificate(caDER)
	if err != nil {
		return nil, err
	}
	p.caPEM = pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER})
	serverKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	serverTemplate := &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "kube-apiserver"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(10 * 365 * 24 * time.Hour),
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		DNSNames:    []string{"localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc", "kubernetes.default.svc.cluster.local"},
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1"), net.ParseIP("10.96.0.1")},
	}
	serverDER, err := x509.CreateCertificate(rand.Reader, serverTemplate, ca, &serverKey.PublicKey, caKey)
	if err != nil {
		return nil, err
	}
	saKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	saPub, err := x509.MarshalPKIXPublicKey(&saKey.PublicKey)
	if err != nil {
		return nil, err
	}
	tokenBytes := make([]byte, 24)
	if _, err := rand.Read(tokenBytes); err != nil {
		return nil, err
	}
	p.token = hex.EncodeToString(tokenBytes)
	files := map[string][]byte{
		p.caCert:     p.caPEM,
		p.serverCert: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: serverDER}),
		p.serverKey:  ecKeyPEM(serverKey),
		p.saKey:      ecKeyPEM(saKey),
		p.saPub:      pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: saPub}),
		p.tokens:     []byte(fmt.Sprintf("%s,%s,%s,\"system:masters\"\n", p.token, adminUser, adminUser)),
	}
	for path, data := range files {
		if err := os.WriteFile(path, data, 0o600); err != nil {
			return nil, err
		}
	}
	return p, nil
}

func ecKeyPEM(k *ecdsa.PrivateKey) []byte {
	der, err := x509.MarshalECPrivateKey(k)
	if err != nil {
		panic(err) // a key generated above always marshals
	}
	return pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: der})
}

func writeKubeconfig(path, server string, p *pkiFiles) error {
	ca := base64.StdEncoding.EncodeToString(p.caPEM)
	config := fmt.Sprintf(`apiVersion: v1
kind: Config
clusters:
- name: serin-controlplane
  cluster:
    server: %s
    certificate-authority-data: %s
users:
- name: %s
  user:
    token: %s
contexts:
- name: serin-controlplane
  context:
    cluster: serin-controlplane
    user: %s
    namespace: default
current-context: serin-controlplane
`, server, ca, adminUser, p.token, adminUser)
	return os.WriteFile(path, []byte(config), 0o600)
}

// apiClient is the little of the API the supervisor itself needs (fake nodes, readiness).
type apiClient struct {
	server, token string
	tls           *tls.Config
}

func (a *apiClient) do(ctx context.Context, method, path, body string) (int, []byte, error) {
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: a.tls}}
	req, err := http.NewRequestWithContext(ctx, method, a.server+path, strings.NewReader(body))
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Authorization", "Bearer "+a.token)
	contentType := "application/json"
	if method == http.MethodPatch {
		contentType = "application/merge-patch+json"
	}
	req.Header.Set("Content-Type", contentType)
	resp, err := client.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	return resp.StatusCode, data, err
}

func (a *apiClient) createNode(ctx context.Context, name string) error {
	node := fmt.Sprintf(`{"apiVersion":"v1","kind":"Node","metadata":{"name":%q,
		"annotations":{"kwok.x-k8s.io/node":"fake","node.alpha.kubernetes.io/ttl":"0"},
		"labels":{"type":"kwok","kubernetes.io/hostname":%q,"kubernetes.io/os":"linux","kubernetes.io/arch":"amd64"}},
		"status":{"allocatable":{"cpu":"1000","memory":"1Ti","pods":"100000"},
		"capacity":{"cpu":"1000","memory":"1Ti","pods":"100000"}}}`, name, name)
	code, body, err := a.do(ctx, http.MethodPost, "/api/v1/nodes", node)
	if err != nil {
		return err
	}
	if code != http.StatusCreated && code != http.StatusConflict {
		return fmt.Errorf("%d %s", code, body)
	}
	// The API server taints a new node not-ready; the node lifecycle controller would lift the taint once
	// the node reports Ready, but it also evicts pods from nodes without kubelet heartbeats, so it does not
	// run here and the taint is lifted directly.
	code, body, err = a.do(ctx, http.MethodPatch, "/api/v1/nodes/"+name, `{"spec":{"taints":null}}`)
	if err != nil {
		return err
	}
	if code != http.StatusOK {
		return fmt.Errorf("lifting the not-ready taint: %d %s", code, body)
	}
	return nil
}

func (a *apiClient) nodesReady(ctx context.Context, want int) (bool, error) {
	code, body, err := a.do(ctx, http.MethodGet, "/api/v1/nodes", "")
	if err != nil || code != http.StatusOK {
		return false, err
	}
	var list struct {
		Items []struct {
			Status struct {
				Conditions []struct{ Type, Status string }
			}
		}
	}
	if err := json.Unmarshal(body, &list); err != nil {
		return false, err
	}
	ready := 0
	for _, n := range list.Items {
		for _, c := range n.Status.Conditions {
			if c.Type == "Ready" && c.Status == "True" {
				ready++
			}
		}
	}
	return ready >= want, nil
}

func (a *apiClient) exists(ctx context.Context, path string) (bool, error) {
	code, _, err := a.do(ctx, http.MethodGet, path, "")
	return err == nil && code == http.StatusOK, nil
}

func (a *apiClient) waitFor(ctx context.Context, what string, f func() (bool, error)) error {
	deadline := time.Now().Add(2 * time.Minute)
	for time.Now().Before(deadline) {
		ok, err := f()
		if err != nil {
			return err
		}
		if ok {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting for %s: %w", what, ctx.Err())
		case <-time.After(200 * time.Millisecond):
		}
	}
	return fmt.Errorf("timed out waiting for %s", what)
}
