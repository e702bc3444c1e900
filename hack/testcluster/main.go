// Command testcluster is KubeFoundry's test control plane: a real kube-apiserver and a real
// etcd, built from their published Go modules into one binary so the test suite needs neither
// Docker nor downloaded release binaries.
//
//	testcluster etcd --data-dir DIR --listen-client-urls URL --listen-peer-urls URL
//	testcluster apiserver [kube-apiserver flags...]
//	testcluster controller-manager [kube-controller-manager flags...]
//	testcluster scheduler [kube-scheduler flags...]
//	testcluster keygen PATH   # an RSA key for --service-account-signing-key-file
//	testcluster certgen DIR [NAME...]  # tls.crt + tls.key for 127.0.0.1 (and NAMEs)
//	testcluster provisioner --kubeconfig PATH [--name NAME]   # volumes for PVCs (no disk)
//	testcluster version
//
// One binary rather than one per component: the components share most of their dependencies,
// so one link step and one cached file serve them all. Each component subcommand is upstream's
// own cobra command (what its cmd/<name>/main.go runs), so every flag is the component's own.
package main

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"flag"
	"fmt"
	"math/big"
	"net"
	"net/url"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"
	_ "time/tzdata" // for timeZone support in CronJob, as kube-apiserver's own main has it

	"github.com/spf13/cobra"
	"go.etcd.io/etcd/server/v3/embed"
	"k8s.io/component-base/cli"
	_ "k8s.io/component-base/logs/json/register"          // JSON log format, as upstream
	_ "k8s.io/component-base/metrics/prometheus/clientgo" // client-go metrics, as upstream
	_ "k8s.io/component-base/metrics/prometheus/version"  // version metric, as upstream
	"k8s.io/component-base/version"
	apiserver "k8s.io/kubernetes/cmd/kube-apiserver/app"
	controllermanager "k8s.io/kubernetes/cmd/kube-controller-manager/app"
	scheduler "k8s.io/kubernetes/cmd/kube-scheduler/app"
)

const usage = `usage: testcluster COMMAND [flags]

commands:
  etcd                run a single-member etcd (go.etcd.io/etcd/server/v3/embed)
  apiserver           run kube-apiserver; every flag is kube-apiserver's own
  controller-manager  run kube-controller-manager; every flag is its own
  scheduler           run kube-scheduler; every flag is its own
  keygen              write a new RSA private key (PEM) to the given path
  certgen DIR [NAME...] write a self-signed tls.crt and tls.key for 127.0.0.1, localhost and
                      each NAME (a DNS name or an IP address) into a folder
  provisioner         provision a PersistentVolume for each claim of a StorageClass whose
                      provisioner is --name (the volumes hold no data: no kubelet mounts them)
  version             print the Kubernetes version this binary was built from
`

func main() {
	if len(os.Args) < 2 {
		fmt.Fprint(os.Stderr, usage)
		os.Exit(2)
	}
	command, args := os.Args[1], os.Args[2:]
	switch command {
	case "etcd":
		os.Exit(runEtcd(args))
	case "apiserver":
		os.Exit(runCommand(apiserver.NewAPIServerCommand(), args))
	case "controller-manager":
		os.Exit(runCommand(controllermanager.NewControllerManagerCommand(), args))
	case "scheduler":
		os.Exit(runCommand(scheduler.NewSchedulerCommand(), args))
	case "keygen":
		os.Exit(keygen(args))
	case "certgen":
		os.Exit(certgen(args))
	case "provisioner":
		os.Exit(runProvisioner(args))
	case "version":
		fmt.Println(version.Get().GitVersion)
	default:
		fmt.Fprintf(os.Stderr, "testcluster: unknown command %q\n%s", command, usage)
		os.Exit(2)
	}
}

// runCommand runs an upstream component's cobra command as its own main would.
func runCommand(cmd *cobra.Command, args []string) int {
	cmd.SetArgs(args)
	return cli.Run(cmd)
}

func runEtcd(args []string) int {
	flags := flag.NewFlagSet("etcd", flag.ContinueOnError)
	dataDir := flags.String("data-dir", "", "directory for etcd's data (required)")
	clientURLs := flags.String("listen-client-urls", "http://127.0.0.1:2379", "comma-separated")
	peerURLs := flags.String("listen-peer-urls", "http://127.0.0.1:2380", "comma-separated")
	logLevel := flags.String("log-level", "warn", "debug, info, warn or error")
	if err := flags.Parse(args); err != nil {
		return 2
	}
	if *dataDir == "" {
		fmt.Fprintln(os.Stderr, "testcluster etcd: --data-dir is required")
		return 2
	}
	cfg := embed.NewConfig()
	cfg.Name = "testcluster"
	cfg.Dir = *dataDir
	cfg.LogLevel = *logLevel
	var err error
	if cfg.ListenClientUrls, err = parseURLs(*clientURLs); err != nil {
		return fail(err)
	}
	if cfg.ListenPeerUrls, err = parseURLs(*peerURLs); err != nil {
		return fail(err)
	}
	cfg.AdvertiseClientUrls = cfg.ListenClientUrls
	cfg.AdvertisePeerUrls = cfg.ListenPeerUrls
	cfg.InitialCluster = cfg.InitialClusterFromName(cfg.Name)

	etcd, err := embed.StartEtcd(cfg)
	if err != nil {
		return fail(err)
	}
	defer etcd.Close()
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGINT, syscall.SIGTERM)
	select {
	case <-etcd.Server.ReadyNotify():
		fmt.Fprintf(os.Stderr, "testcluster etcd: ready, serving clients on %s\n", *clientURLs)
	case err := <-etcd.Err():
		return fail(err)
	case <-stop:
		return 0
	}
	select {
	case err := <-etcd.Err():
		return fail(err)
	case <-stop:
		return 0
	}
}

func parseURLs(list string) ([]url.URL, error) {
	var urls []url.URL
	for _, raw := range strings.Split(list, ",") {
		u, err := url.Parse(strings.TrimSpace(raw))
		if err != nil {
			return nil, fmt.Errorf("bad URL %q: %w", raw, err)
		}
		urls = append(urls, *u)
	}
	return urls, nil
}

func keygen(args []string) int {
	if len(args) != 1 {
		fmt.Fprintln(os.Stderr, "usage: testcluster keygen PATH")
		return 2
	}
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return fail(err)
	}
	block := &pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)}
	if err := os.WriteFile(args[0], pem.EncodeToMemory(block), 0o600); err != nil {
		return fail(err)
	}
	return 0
}

// certgen writes a self-signed certificate for 127.0.0.1, localhost and any further names
// (tls.crt, tls.key): the API server calls a webhook or an aggregated API server with it as
// the CA bundle, and it also serves as a client certificate (its own CA), which KEDA's
// metrics service and the API server's front proxy present.
func certgen(args []string) int {
	if len(args) < 1 {
		fmt.Fprintln(os.Stderr, "usage: testcluster certgen DIR [NAME...]")
		return 2
	}
	ips, names := []net.IP{net.IPv4(127, 0, 0, 1)}, []string{"localhost"}
	for _, name := range args[1:] {
		if ip := net.ParseIP(name); ip != nil {
			ips = append(ips, ip)
		} else {
			names = append(names, name)
		}
	}
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return fail(err)
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 62))
	if err != nil {
		return fail(err)
	}
	now := time.Now()
	template := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: "127.0.0.1"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.AddDate(1, 0, 0),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
		IPAddresses:           ips,
		DNSNames:              names,
	}
	der, err := x509.CreateCertificate(rand.Reader, template, template, &key.PublicKey, key)
	if err != nil {
		return fail(err)
	}
	if err := os.MkdirAll(args[0], 0o700); err != nil {
		return fail(err)
	}
	files := map[string]*pem.Block{
		"tls.crt": {Type: "CERTIFICATE", Bytes: der},
		"tls.key": {Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)},
	}
	for name, block := range files {
		if err := os.WriteFile(filepath.Join(args[0], name), pem.EncodeToMemory(block), 0o600); err != nil {
			return fail(err)
		}
	}
	return 0
}

func fail(err error) int {
	fmt.Fprintf(os.Stderr, "testcluster: %v\n", err)
	return 1
}
