package slave

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"strings"
	"time"

	"github.com/nutslave/nutslave/flags"
	"github.com/nutslave/nutslave/flags/sftpstore"
	"github.com/nutslave/nutslave/internal/command"
	"github.com/nutslave/nutslave/internal/eventlog"
)

// Heartbeat is the readiness report a slave-side timer sends between
// outages: the same self-check as `check`, written to the master as
// seen.<NAME> in ACKDIR, so a broken slave is found before the power
// fails. It also answers a drill the master may have asked for.
func Heartbeat(ctx context.Context, cfg *Config, log *eventlog.Logger, w io.Writer) error {
	busy := func(ctx context.Context, sc sftpstore.Config) (*sftpstore.Conn, error) { return dialBusy(ctx, sc, log) }
	k := &checker{Checker: command.Checker{W: w}, dial: busy, keep: true}
	checkErr := check(ctx, cfg, k)
	problems := k.Findings
	result := "ok"
	if checkErr != nil {
		result = "problem"
	}

	// The report goes over the self-check's connection: one connection a
	// heartbeat, which matters when every slave boots at once. The check
	// leaves none when it could not reach the master (already tried, with
	// the busy retries: not again) or stopped before it (a missing
	// shutdown command, say: then the heartbeat dials).
	conn := k.conn
	if k.dialErr != nil {
		log.Error("heartbeat: master unreachable", "err", k.dialErr)
		return errors.Join(checkErr, k.dialErr)
	}
	if conn == nil {
		signer, err := sftpstore.LoadSigner(cfg.Identity)
		if err != nil {
			log.Error("heartbeat: cannot load the ssh identity", "err", err)
			return errors.Join(checkErr, err)
		}
		if conn, err = busy(ctx, sshConfig(cfg, signer)); err != nil {
			log.Error("heartbeat: master unreachable", "err", err)
			return errors.Join(checkErr, err)
		}
	}
	defer conn.Close()
	cctx, cancel := context.WithTimeout(ctx, 3*cfg.ConnectTimeout)
	defer cancel()
	fields := []flags.Field{
		{Key: "version", Value: cfg.Version},
		{Key: "result", Value: result},
		{Key: "uid", Value: fmt.Sprint(os.Geteuid())},
		{Key: "problems", Value: truncate(strings.Join(problems, "; "), 1500)},
	}
	// The link this host reaches the master through: the master wakes it
	// there (Wake-on-LAN) after an outage.
	if l, ok := linkOf(conn.LocalAddr()); ok {
		fields = append(fields, flags.Field{Key: "mac", Value: l.mac}, flags.Field{Key: "iface", Value: l.iface},
			flags.Field{Key: "addr", Value: l.addr})
	}
	body := flags.Stamp(time.Now(), cfg.Name, fields...)
	if err := sftpstore.New(conn.SFTP, cfg.AckDir).Set(cctx, flags.Seen(cfg.Name), body); err != nil {
		log.Error("heartbeat: cannot write to the master", "err", err)
		return errors.Join(checkErr, err)
	}
	log.Info("heartbeat sent", "flag", flags.Seen(cfg.Name), "result", result)
	if in, err := sftpstore.New(conn.SFTP, cfg.FlagDir).Stat(cctx, flags.Drill); err == nil {
		AnswerDrill(cctx, log, cfg.Options(), conn.SFTP, in)
	}
	return checkErr
}

// heartbeatBusyFor is how long a heartbeat keeps trying a master whose
// sshd is busy (connections closed before the banner: past MaxStartups,
// as when every slave boots at once after an outage). Without it such a
// slave would be seen again only at its timer's next run.
const heartbeatBusyFor = 30 * time.Second

// dialBusy dials the master, trying again after a pause of 1 to 2 s while
// it is busy, for heartbeatBusyFor at most. Any other failure ends it.
func dialBusy(ctx context.Context, sc sftpstore.Config, log *eventlog.Logger) (*sftpstore.Conn, error) {
	ctx, cancel := context.WithTimeout(ctx, heartbeatBusyFor+3*sc.DialTimeout)
	defer cancel()
	deadline := time.Now().Add(heartbeatBusyFor)
	for try := 1; ; try++ {
		cctx, ccancel := context.WithTimeout(ctx, 3*sc.DialTimeout)
		conn, err := sftpstore.Dial(cctx, sc)
		ccancel()
		if err == nil || !errors.Is(err, sftpstore.ErrBusy) || time.Now().After(deadline) {
			return conn, err
		}
		log.Info("heartbeat: the master is busy; trying again", "try", try, "err", err)
		select {
		case <-time.After(time.Second + rand.N(time.Second)):
		case <-ctx.Done():
			return nil, err
		}
	}
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}

// link is the interface this host reaches the master through.
type link struct{ iface, mac, addr string }

// linkOf finds the interface that holds local's IP address and its
// hardware address. Loopback and interfaces without one (a tunnel) have
// nothing to wake: ok is false.
func linkOf(local net.Addr) (link, bool) {
	ta, ok := local.(*net.TCPAddr)
	if !ok || ta.IP.IsLoopback() {
		return link{}, false
	}
	ifaces, err := net.Interfaces()
	if err != nil {
		return link{}, false
	}
	for _, ifc := range ifaces {
		if len(ifc.HardwareAddr) != 6 {
			continue
		}
		addrs, _ := ifc.Addrs()
		for _, a := range addrs {
			if n, ok := a.(*net.IPNet); ok && n.IP.Equal(ta.IP) {
				return link{iface: ifc.Name, mac: ifc.HardwareAddr.String(), addr: ta.IP.String()}, true
			}
		}
	}
	return link{}, false
}
