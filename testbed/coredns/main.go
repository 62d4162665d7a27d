// CoreDNS with only the plugins the test bed's real node uses, so the build skips the cloud SDKs
// (route53, azure, clouddns) that the stock binary links. Built by testbed/build-binaries.sh.
package main

import (
	"github.com/coredns/coredns/core/dnsserver"
	"github.com/coredns/coredns/coremain"

	_ "github.com/coredns/coredns/plugin/bind"
	_ "github.com/coredns/coredns/plugin/cache"
	_ "github.com/coredns/coredns/plugin/errors"
	_ "github.com/coredns/coredns/plugin/forward"
	_ "github.com/coredns/coredns/plugin/health"
	_ "github.com/coredns/coredns/plugin/kubernetes"
	_ "github.com/coredns/coredns/plugin/log"
	_ "github.com/coredns/coredns/plugin/loop"
	_ "github.com/coredns/coredns/plugin/ready"
)

// The order in which plugins handle a query: the same relative order as CoreDNS' plugin.cfg.
func init() {
	dnsserver.Directives = []string{
		"bind", "ready", "health", "errors", "log", "cache", "kubernetes", "loop", "forward",
	}
}

func main() {
	coremain.Run()
}
