package main

import (
	"io"
	"os"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/nutslave/nutslave/internal/command"
	"github.com/nutslave/nutslave/internal/eventlog"
	"github.com/nutslave/nutslave/internal/slave"
	"github.com/nutslave/nutslave/notify"
)

const appDescription = `upsslave runs on every slave host that upsmon(8) watches over the network. upsmon
starts it as NOTIFYCMD, once per event, with NOTIFYTYPE and UPSNAME in the
environment and the message as its last argument. It needs no arguments.

On ONBATT it keeps one SSH/SFTP connection to the master and polls the master's
flag directory every POLL: "sdf" means acknowledge and shut down, "battsdf"
means shut down after sdf or SDFWAIT, "onl" means power is back. LOWBATT, FSD,
SHUTDOWN and NOPARENT (on battery) wait for sdf, acknowledge with
sdfok.NAME, and run SHUTDOWNCMD. A master that cannot be reached is never a
verdict: only DEADTIME of continuous unreachability while on battery shuts the
host down (fail-safe), after one last fresh attempt and without waiting to
acknowledge. One upsslave waits per UPS; later events are handed to
it within one POLL; the acknowledgement is written and SHUTDOWNCMD run at most
once per boot.

Stages, readiness and drills: the master may give this slave a verdict of its
own, battsdf.NAME and sdf.NAME, which count exactly like battsdf and sdf
(upsflags STAGES=). "upsslave heartbeat", run by upsslave-heartbeat.timer about
once a minute, runs the same self-check as "check" and reports it to the master
as seen.NAME in ACKDIR. A "drill" flag from "upsflags drill" is answered with
drillok.NAME, by the heartbeat or a running watcher within one POLL; a drill
never runs SHUTDOWNCMD and is never taken for sdf.

Setup, in the slave's upsmon.conf:

    NOTIFYCMD /usr/sbin/upsslave
    NOTIFYFLAG ONBATT SYSLOG+WALL+EXEC      (likewise ONLINE LOWBATT FSD COMMBAD
                                            COMMOK SHUTDOWN NOCOMM NOPARENT)
    SHUTDOWNCMD "/usr/sbin/upsslave shutdown"

and in upsslave.conf (KEY=VALUE lines; durations as 60, 60s, 250ms, 2m):

    MASTER       user@host[:port] of the master's SFTP account (required,
                 unless MASTERS is set)
    MASTERS      a host with several power supplies on several UPSes: each
                 UPS's master, "UPS=user@host[:port] ...", the UPS as in
                 upsmon.conf's MONITOR line. Then a verdict from one master
                 condemns that supply only (upsslave still acknowledges to
                 it); the host shuts down when the MONITOR power values of
                 the supplies left fall below upsmon.conf's MINSUPPLIES
    UPSMON_CONF  the upsmon.conf read for MONITOR and MINSUPPLIES (default
                 $UPSMON_CONF, /etc/nut/upsmon.conf, /etc/ups/upsmon.conf)
    IDENTITY     private key (default: upsslave.key beside the config)
    KNOWN_HOSTS  the master's host key (default: upsslave.known_hosts beside
                the config; fill it with "upsslave trust")
    FLAGDIR      the master's flag directory as seen over SFTP (default /flags)
    ACKDIR       where acknowledgements go (default FLAGDIR/acks)
    FLAGOWNER    uid that must own the master's flags (default 0)
    NAME         this slave's name in sdfok.NAME (default: short host name)
    POLL         how often to read the flags while waiting (default 250ms)
    SDFWAIT      longest wait for sdf once shutting down (default 60s)
    DEADTIME     unreachable master on battery before the fail-safe (default 60s)
    CONNECT_TIMEOUT  bound on the TCP connect, on the SSH banner, and from
                 the banner on the handshake and SFTP start (default 5s)
    SHUTDOWNCMD  run without a shell (default "/sbin/shutdown -h +0")
    LOGFILE      (default /var/log/nutslave/upsslave.log; "none" to disable)
    STATEDIR     state and locks (default /var/lib/nutslave)
    DRYRUN       yes: log the shutdown instead of running it (default no)
    ON_NOPARENT  shutdown (on battery) or log (default shutdown)
    NOTIFYCMD_NEXT  the NOTIFYCMD upsmon ran before upsslave (upssched, a
                 mail script): it gets every event too, at once, with the
                 same NOTIFYTYPE, UPSNAME and message; its exit status and
                 output are logged and never change what upsslave does
    NOTIFYCMD_NEXT_TIMEOUT  a chained command still running after this is
                 stopped (default 30s)

The configuration is found with --config, else $UPSSLAVE_CONF, else
/etc/nut/upsslave.conf, else /etc/ups/upsslave.conf.

Exit status: 0 success (also unknown events and cancelled waits), 1 runtime
failure, 2 usage, 4 permission, 6 not configured.`

func newApp(getenv func(string) string, stdout, stderr io.Writer) *cli.App {
	app := program.NewApp(stdout, stderr)
	app.Usage = "shut this host down when the UPS master says so (upsmon NOTIFYCMD)"
	app.UsageText = "NOTIFYTYPE=ONBATT UPSNAME=ups@master upsslave [--config FILE] MESSAGE\nupsslave [--config FILE] COMMAND [arguments]"
	app.Description = appDescription
	app.Action = func(c *cli.Context) error {
		return &command.UsageError{
			Msg:  "no NOTIFYTYPE in the environment",
			Hint: "upsslave is run by upsmon as NOTIFYCMD; to try it by hand: upsslave simulate ONBATT",
		}
	}
	app.Commands = []*cli.Command{
		program.CheckCommand(getenv, "check the configuration, keys, the master connection and the shutdown command", slave.Check),
		{
			Name:      "trust",
			Usage:     "show the master's host key fingerprint and add it to KNOWN_HOSTS",
			UsageText: "upsslave trust [--fingerprint SHA256:...] [--yes]",
			Flags: []cli.Flag{
				&cli.StringFlag{Name: "fingerprint", Usage: "trust the key only if its fingerprint is `SHA256:...`"},
				&cli.BoolFlag{Name: "yes", Aliases: []string{"y"}, Usage: "do not ask for confirmation"},
			},
			Action: program.Action(getenv, func(c *cli.Context, cfg *slave.Config) error {
				return slave.Trust(c.Context, cfg, c.String("fingerprint"), c.Bool("yes"), os.Stdin, stdout)
			}),
		},
		{
			Name:      "status",
			Usage:     "show what upsslave remembers and what the master's flags say",
			UsageText: "upsslave status [--local] [--json]\n\nWith --json: one JSON document, schema " + command.StatusSchema + "\n(docs/status-json.md in the source): times in RFC 3339, durations in seconds,\nabsent values left out. A master that cannot be read is reported in\nmaster_error and the exit status is 1.",
			Flags: []cli.Flag{
				&cli.BoolFlag{Name: "local", Usage: "do not contact the master"},
				&cli.BoolFlag{Name: "json", Usage: "print one JSON document instead of text"},
			},
			Action: program.Action(getenv, func(c *cli.Context, cfg *slave.Config) error {
				return slave.Status(c.Context, cfg, !c.Bool("local"), c.Bool("json"), stdout)
			}),
		},
		{
			Name:  "simulate",
			Usage: "play an event through the whole path against the real master, without acknowledging or shutting down",
			UsageText: "upsslave simulate [--ups NAME] [--timeout DURATION] EVENT\n\n" +
				"EVENT is a NOTIFYTYPE such as ONBATT, LOWBATT, FSD. State is kept in a\n" +
				"temporary directory, so the real state is untouched.",
			Flags: []cli.Flag{
				&cli.StringFlag{Name: "ups", Value: "ups@master", Usage: "the UPSNAME to simulate"},
				&cli.DurationFlag{Name: "timeout", Value: 5 * time.Minute, Usage: "stop the simulation after `DURATION`"},
			},
			Before: func(c *cli.Context) error {
				if c.NArg() != 1 {
					return &command.UsageError{Msg: "simulate needs one EVENT", Hint: "e.g. upsslave simulate ONBATT"}
				}
				if ev, err := notify.ParseEvent(c.Args().First()); err != nil && ev == "" {
					return &command.UsageError{Msg: err.Error(), Hint: "events: ONBATT ONLINE LOWBATT FSD SHUTDOWN NOPARENT COMMBAD ..."}
				}
				return nil
			},
			Action: program.Action(getenv, func(c *cli.Context, cfg *slave.Config) error {
				ev, _ := notify.ParseEvent(c.Args().First())
				return slave.Simulate(c.Context, cfg, string(ev), c.String("ups"), c.Duration("timeout"), stdout)
			}),
		},
		{
			Name:  "shutdown",
			Usage: "for upsmon's SHUTDOWNCMD (runs as root): finish the handshake with the master, then power off",
			UsageText: "upsslave shutdown\n\n" +
				"Waits up to SDFWAIT for the master's sdf, acknowledges, and runs SHUTDOWNCMD,\n" +
				"unless an upsslave already started the shutdown in this boot.",
			Action: program.LogAction(getenv, stderr, func(c *cli.Context, cfg *slave.Config, log *eventlog.Logger) error {
				return slave.Open(cfg, log).ShutdownCommand(c.Context)
			}),
		},
		{
			Name:  "heartbeat",
			Usage: "run the self-check and report readiness to the master (seen.NAME); answer a drill",
			UsageText: "upsslave heartbeat\n\n" +
				"Meant for the upsslave-heartbeat.timer (about once a minute) or cron. It\n" +
				"writes seen.NAME in ACKDIR with the time, version and check result, so\n" +
				"`upsflags status` shows a broken slave before the power fails, and answers\n" +
				"an `upsflags drill` with drillok.NAME without powering anything off.",
			Action: program.LogAction(getenv, stderr, func(c *cli.Context, cfg *slave.Config, log *eventlog.Logger) error {
				return slave.Heartbeat(c.Context, cfg, log, stdout)
			}),
		},
		command.ManCommand(),
	}
	return app
}
