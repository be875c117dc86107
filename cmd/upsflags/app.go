package main

import (
	"cmp"
	"fmt"
	"io"
	"time"

	"github.com/nutslave/nutslave/internal/command"
	"github.com/nutslave/nutslave/internal/eventlog"
	"github.com/nutslave/nutslave/internal/flagger"
	"github.com/nutslave/nutslave/internal/metrics"
	"github.com/urfave/cli/v2"
)

const appDescription = `upsflags runs on the master: the host the UPS is plugged into, which runs NUT's
driver, upsd and upsmon. It reads the UPS, writes the flag files that the
slaves' upsslave reads over SFTP, waits for the slaves' acknowledgements, and
shuts the master down last.

Flags, in FLAGDIR (root-owned 0755, read-only for the slaves):
   onl      on line power. Written only when it is absent, i.e. once per
            on-line period: slaves take an onl that did not change since
            their wait began for a leftover.
   battsdf  on battery and critical: slaves must shut down.
   sdf      the master has committed to shutting down. Latched: it stays,
            even if power returns, until "upsflags reset" at boot.
   battsdf.<NAME>, sdf.<NAME>
            one staged slave's own verdict (STAGES): that slave treats them
            exactly like battsdf and sdf, the others ignore them. sdf.<NAME>
            latches like sdf; a battsdf.<NAME> whose sdf.<NAME> was not
            written is cancelled when power returns.
   drill    a shutdown drill is on (id=drill-<unix time>.<ns>): slaves answer
            without powering off. Never taken for sdf.
and in ACKDIR (root:SSHUSER 1770), written by the slaves:
   sdfok.<NAME>    "I am shutting down now" (a seed-style slave writes a
                   plain sdfok)
   seen.<NAME>     the heartbeat of "upsslave heartbeat" (its timer runs it
                   about once a minute): time=, host=, version=,
                   result=ok|problem, problems="error: ...; warning: ...".
                   Read with a size limit and shown, never trusted further.
   drillok.<NAME>  the answer to a drill: drill=<id>.

Each run: on line → onl present, battsdf absent. On battery → onl absent.
Critical when on battery and the charge is below STDWCHARGE (or the runtime
below STDWRUNTIME) for DEBOUNCE consecutive readings, or the status says LB,
or on battery longer than MAXONBATT; also when the status says FSD, and when
there was no reading for DEADTIME while last known on battery. Critical →
write battsdf, then sdf, then wait until every slave in SLAVES has written
sdfok.<name> (not older than this sdf) or HOSTSYNC passes, log who did and
who did not, and run SHUTDOWNCMD once. No reading (upsd DATA-STALE, a busy
USB device, WAIT) is never taken for "fine". One upsflags decides at a time
(STATEDIR/upsflags.lock).

Stages (STAGES=web1:70 web2:70 db1:40): on battery, when the charge falls
below a staged slave's own threshold (or battery.runtime below it, for
db1:300s) for DEBOUNCE consecutive readings, upsflags writes battsdf.<NAME>
then sdf.<NAME>: that slave acknowledges (sdfok.<NAME>) and shuts down, the
others keep running. Slaves not in STAGES follow STDWCHARGE (battsdf, sdf).
The master still goes last: after the global sdf it waits for every slave
of SLAVES and STAGES (a staged slave's acknowledgement counts from its own
sdf.<NAME>) or HOSTSYNC. Power returning cancels the stages not yet told to
go. A stage at or below STDWCHARGE never fires on its own ("check" warns).
A plain sdfok from a seed-style slave counts for the one slave in SLAVES
that is not staged.

Readiness: "status" lists every known slave (SLAVES, STAGES and any
seen.<NAME>) with its stage, its verdict, its acknowledgement, how long ago
its last heartbeat came and any problem it reported; "check" fails when a
slave of SLAVES or STAGES was never seen or not for STALE.

Drills: "upsflags drill [--timeout 2m]" writes drill, waits for each
slave's drillok.<NAME> (a slave answers from its heartbeat timer or, while
watching after ONBATT, within one POLL), prints who answered and how fast,
who did not and why where known ("last seen 12m ago", a reported problem),
removes drill and the drillok.* files, and exits 1 if someone did not
answer. Nothing is powered off. Every POLL the drill also runs the normal
decision under the same lock: a real outage removes drill at once and the
real sequence (battsdf, sdf, roster wait, the master's shutdown) proceeds.

Monitoring: "status --json" prints the same status as one JSON document
(schema nutslave.status/1: times in RFC 3339, durations in seconds, absent
values left out); "metrics" writes it as a Prometheus textfile for
node_exporter's textfile collector, and METRICS= makes every run write it.

Setup on the master:
 1. /etc/nut/upsflags.conf (below); at least SLAVES="name1 name2 ...".
 2. "upsflags check": creates FLAGDIR and ACKDIR (run and watch never do:
    a missing one is an error), checks owners and modes, reads the UPS
    once, finds SHUTDOWNCMD. The first time the master's side is in order
    it writes STATEDIR/upsflags.checked.
 3. The package enables upsflags.timer, upsflags.path and
    upsflags-reset.service (a run every 5 s; at once on upsmon events; the
    flags cleared at boot); the first two run upsflags only once
    /var/lib/nutslave/upsflags.checked exists.
 4. For an immediate reaction, in upsmon.conf:
       NOTIFYCMD /usr/sbin/upsflags
       NOTIFYFLAG ONBATT SYSLOG+WALL+EXEC
       NOTIFYFLAG ONLINE SYSLOG+WALL+EXEC
       NOTIFYFLAG LOWBATT SYSLOG+WALL+EXEC
       NOTIFYFLAG FSD SYSLOG+WALL+EXEC
    It decides at once on ONBATT, ONLINE, LOWBATT, FSD, SHUTDOWN,
    SHUTDOWN_HOSTSYNC, COMMBAD and NOCOMM; other events (unknown ones
    too) are logged. upsmon runs it as user nut, which may not write
    FLAGDIR: it then only touches TRIGGER and upsflags.path starts
    upsflags.service as root.
 5. "upsflags status" shows the reading, the flags, who acknowledged and
    when each slave was last seen; "upsflags drill" tries the handshake.

upsflags.conf (KEY=VALUE lines; durations as 60, 60s, 250ms, 2m):

   SOURCE       where the UPS is read (default auto):
                  auto                upsd on localhost:3493 if it serves a
                                      UPS (NUT's driver then holds the USB
                                      device), else USB
                  nut://ups@host:port upsd's protocol
                  usb, usb://VID:PID[?serial=S]  the UPS directly (HID PDC or
                                      Megatec/Q1, e.g. usb://0001:0000)
                  file:/path          upsc-style "name: value" lines; for
                                      tests, demos and drills
   UPS          with SOURCE=auto: which UPS upsd serves (default: the only one)
   FLAGDIR      the master's flags (default /srv/nutslave/flags)
   ACKDIR       the slaves' acknowledgements (default FLAGDIR/acks); equal to
                FLAGDIR is the original layout, where any slave can forge sdf
   SSHUSER      the slaves' SFTP account; ACKDIR's group (default nutslave)
   FLAGOWNER    uid that must own FLAGDIR and ACKDIR (default 0)
   SLAVES       slave NAMEs to wait for, space-separated (default empty: any
                one acknowledgement, including a seed-style plain sdfok)
   STAGES       per-slave thresholds, NAME:PERCENT or NAME:RUNTIME, e.g.
                "web1:70 web2:70 db1:40" or "db1:300s" (default empty: every
                slave follows STDWCHARGE); staged slaves are waited for too
   STALE        a slave of SLAVES or STAGES whose last heartbeat is older
                is stale: "check" fails (default 5m)
   STDWCHARGE   on battery, critical below this charge in percent (default 50)
   STDWRUNTIME  on battery, critical below this runtime (default unset)
   MAXONBATT    critical after this long on battery (default unset)
   DEBOUNCE     consecutive low readings before acting (default 2); readings
                closer than POLL/2 apart count once
   HOSTSYNC     longest wait for the slaves after sdf (default 120s)
   DEADTIME     no reading this long while on battery is critical (default 30s)
   POLL         "upsflags watch" reads the UPS this often (default 2s)
   SHUTDOWNCMD  the master's shutdown, run without a shell
                (default "/sbin/shutdown -h +0")
   LOGFILE      (default /var/log/nutslave/upsflags.log; "none" to disable)
   STATEDIR     state and the decider lock (default /var/lib/nutslave)
   TRIGGER      touched in NOTIFYCMD mode when FLAGDIR is not writable
                (default /run/nutslave/upsflags.trigger)
   DRYRUN       yes: log the master's shutdown instead of running it (default no)
   RESTORE_MINCHARGE  after an outage, wake the slaves (Wake-on-LAN) only once
                the UPS is on line with at least this charge (default 30)
   WAKE_FOR     how long to keep waking a slave that is not seen again;
                0 turns the automatic wake-ups off (default 1h)
   KILLPOWER    arm the UPS at the master's shutdown, once every slave
                acknowledged: through NUT, by writing upsmon.conf's
                POWERDOWNFLAG for NUT's halt hook (upsdrvctl shutdown); over
                USB, for this package's hook (upsflags killpower): auto (NUT
                or USB, as the UPS is read), yes or no (default auto)
   OFFDELAY, ONDELAY  SOURCE=usb: the UPS cuts its load OFFDELAY after the
                hook's command and restores it when the mains is back and
                ONDELAY passed (default 0: the UPS's own, e.g. HID 20s/30s,
                Megatec 30s/3m); ONDELAY must be the longer, and left at 0
                it follows a longer OFFDELAY
   POWEROFF_WAIT  SOURCE=usb: if the UPS reports line power at the hook, wait
                this long for it to cut the load, then reboot: auto (OFFDELAY
                + 20s, at most 80s), 0 or off (never reboot) or a duration (default
                auto); the whole hook keeps within 85s
   REBOOTCMD    that reboot (default "/usr/bin/systemctl reboot --force --force")
   UPSMON_CONF  the master's upsmon.conf (default $UPSMON_CONF,
                /etc/nut/upsmon.conf, /etc/ups/upsmon.conf)
   NOTIFYCMD_NEXT  the NOTIFYCMD upsmon ran before upsflags (upssched, a
                mail script): it gets every event too, at once, with the
                same NOTIFYTYPE, UPSNAME and message; its outcome is logged
   NOTIFYCMD_NEXT_TIMEOUT  a chained command still running after this is
                stopped (default 30s)
   METRICS      after each run, write the status as a Prometheus textfile here,
                e.g. /var/lib/prometheus/node-exporter/nutslave.prom (default
                empty: off); a failure to write it is logged and changes nothing

upsflags refuses a FLAGDIR or ACKDIR that is a symlink, world-writable or not
owned by FLAGOWNER, and never follows symlinks inside them. Whoever holds the
slaves' shared key can forge another slave's acknowledgement (shortening the
master's wait) but cannot make anyone shut down; one SSH account per slave
removes even that.

The configuration is found with --config, else $UPSFLAGS_CONF, else
/etc/nut/upsflags.conf, else /etc/ups/upsflags.conf.

Exit status: 0 success (also when another upsflags is deciding), 1 runtime
failure (also a refused flag directory, a failed check, a slave that did not
answer a drill), 2 usage, 4 permission, 6 not configured.`

func newApp(getenv func(string) string, stdout, stderr io.Writer) *cli.App {
	// withFlagger is the action of the subcommands that decide: fn gets a
	// Flagger on the configuration, logging.
	withFlagger := func(fn func(c *cli.Context, f *flagger.Flagger) error) cli.ActionFunc {
		return program.LogAction(getenv, stderr, func(c *cli.Context, cfg *flagger.Config, log *eventlog.Logger) error {
			f, err := flagger.New(cfg, log)
			if err != nil {
				return err
			}
			return fn(c, f)
		})
	}
	app := program.NewApp(stdout, stderr)
	app.Usage = "read the UPS, tell the slaves when to shut down, shut the master down last"
	app.UsageText = "upsflags [--config FILE] COMMAND\nNOTIFYTYPE=ONBATT UPSNAME=ups upsflags MESSAGE   (as upsmon's NOTIFYCMD)"
	app.Description = appDescription
	app.Action = func(c *cli.Context) error {
		if c.NArg() > 0 {
			return &command.UsageError{Msg: "unknown command " + c.Args().First(), Hint: "commands: run watch status reset check drill metrics wake killpower"}
		}
		return &command.UsageError{Msg: "no command", Hint: "the timer runs: upsflags run; to look: upsflags status"}
	}
	app.Commands = []*cli.Command{
		{
			Name:      "run",
			Usage:     "read the UPS once, write the flags; when critical, wait for the slaves and shut down",
			UsageText: "upsflags run\n\nOne decision, for the systemd timer or cron. Exits 0 when another upsflags\nis deciding.",
			Action:    withFlagger(func(c *cli.Context, f *flagger.Flagger) error { return f.Once(c.Context) }),
		},
		{
			Name:  "watch",
			Usage: "run a decision every POLL until stopped (or for a while: --for)",
			UsageText: "upsflags watch [--for DURATION]\n\n" +
				"With --for, no new decision starts once DURATION has passed; one under\n" +
				"way (a master waiting for its slaves) finishes first. On a master without\n" +
				"systemd, cron starts \"upsflags watch --for 58s\" every minute: see\n" +
				"/usr/share/nutslave/cron.d-nutslave-master.",
			Flags: []cli.Flag{&cli.DurationFlag{Name: "for", Usage: "stop starting decisions after `DURATION` (0: never)"}},
			Before: func(c *cli.Context) error {
				if c.Duration("for") < 0 {
					return &command.UsageError{Msg: "--for must not be negative", Hint: "e.g. upsflags watch --for 58s"}
				}
				return nil
			},
			Action: withFlagger(func(c *cli.Context, f *flagger.Flagger) error { return f.Watch(c.Context, c.Duration("for")) }),
		},
		{
			Name:      "status",
			Usage:     "show the reading, the flags and which slaves acknowledged",
			UsageText: "upsflags status [--json]\n\nWith --json: one JSON document, schema " + flagger.StatusSchema + "\n(docs/status-json.md in the source): times in RFC 3339, durations\nin seconds, absent values left out.",
			Flags:     []cli.Flag{&cli.BoolFlag{Name: "json", Usage: "print one JSON document instead of text"}},
			Action: program.Action(getenv, func(c *cli.Context, cfg *flagger.Config) error {
				return flagger.Status(c.Context, cfg, c.Bool("json"), stdout)
			}),
		},
		{
			Name:  "metrics",
			Usage: "write the status as a Prometheus textfile for node_exporter",
			UsageText: "upsflags metrics [--file PATH]\n\nWrites the gauges of docs/status-json.md atomically (a temporary file in the\n" +
				"same directory, fsync, rename; mode 0644) to PATH, else METRICS, else\n" + metrics.DefaultFile + ".\n" +
				"With --file - it prints them. node_exporter reads that directory when\nstarted with --collector.textfile.directory.",
			Flags: []cli.Flag{&cli.StringFlag{Name: "file", Usage: "write to `PATH` (- for standard output)"}},
			Before: func(c *cli.Context) error {
				if c.NArg() > 0 {
					return &command.UsageError{Msg: "metrics takes no arguments", Hint: "upsflags metrics [--file PATH]"}
				}
				return nil
			},
			Action: program.Action(getenv, func(c *cli.Context, cfg *flagger.Config) error {
				path := cmp.Or(c.String("file"), cfg.Metrics, metrics.DefaultFile)
				if path != "-" {
					return flagger.WriteMetrics(c.Context, cfg, path)
				}
				s, err := flagger.CollectStatus(c.Context, cfg)
				if err != nil {
					return err
				}
				return s.Metrics().Encode(stdout)
			}),
		},
		{
			Name:  "reset",
			Usage: "at boot, before NUT starts: clear sdf, battsdf, sdf.*, battsdf.*, drill, the acknowledgements and this boot's state",
			UsageText: "upsflags reset\n\nRun by upsflags-reset.service once per boot. Running it during an outage\n" +
				"cancels the master's latch: the slaves already shutting down are not called back.",
			Action: withFlagger(func(c *cli.Context, f *flagger.Flagger) error { return f.Reset(c.Context) }),
		},
		program.CheckCommand(getenv, "check the configuration, the flag directories, the UPS reading and the shutdown command", flagger.Check),
		{
			Name:  "drill",
			Usage: "ask every slave to go through the shutdown handshake without powering off; report who answered",
			UsageText: "upsflags drill [--timeout 2m]\n\nWrites the drill flag, waits for each slave's drillok.<NAME>, prints who\n" +
				"answered and how fast, who did not and why (from its heartbeat), then\nremoves the drill flag and the answers. " +
				"Exits 1 if a slave did not answer.\nA real outage during the drill ends it at once and the real shutdown\nsequence proceeds.",
			Flags: []cli.Flag{&cli.DurationFlag{Name: "timeout", Value: 2 * time.Minute, Usage: "wait at most `DURATION` for the answers"}},
			Before: func(c *cli.Context) error {
				if c.NArg() > 0 {
					return &command.UsageError{Msg: "drill takes no arguments", Hint: "upsflags drill [--timeout 2m]"}
				}
				if d := c.Duration("timeout"); d <= 0 || d > 24*time.Hour {
					return &command.UsageError{Msg: fmt.Sprintf("--timeout %v: want a duration from 1s to 24h, e.g. 2m", d)}
				}
				return nil
			},
			Action: withFlagger(func(c *cli.Context, f *flagger.Flagger) error {
				return f.Drill(c.Context, c.Duration("timeout"), stdout)
			}),
		},
		{
			Name:  "wake",
			Usage: "wake slaves with a Wake-on-LAN magic packet, on the link towards each",
			UsageText: "upsflags wake NAME... | --all\n\nSends a magic packet to the MAC address each slave's last heartbeat\n" +
				"reported, as a broadcast on this master's interface towards that slave\n(never routed). " +
				"After an outage upsflags does this by itself, once the UPS is\non line with RESTORE_MINCHARGE, " +
				"for every slave that acknowledged the outage\nand has not been seen since, until WAKE_FOR has passed.",
			Flags: []cli.Flag{&cli.BoolFlag{Name: "all", Usage: "every slave of SLAVES and STAGES"}},
			Before: func(c *cli.Context) error {
				if c.Bool("all") == (c.NArg() > 0) {
					return &command.UsageError{Msg: "wake takes slave names or --all", Hint: "upsflags wake web1 db1, or upsflags wake --all"}
				}
				return nil
			},
			Action: program.Action(getenv, func(c *cli.Context, cfg *flagger.Config) error {
				return flagger.Wake(c.Context, cfg, c.Args().Slice(), c.Bool("all"), stdout)
			}),
		},
		{
			Name:  "killpower",
			Usage: "the shutdown hook of SOURCE=usb: after an sdf of this boot, tell the UPS to cut and restore its load",
			UsageText: "upsflags killpower [poweroff|halt|reboot|kexec]\n\nRun by systemd-shutdown at the very end of the halt (" + "/usr/lib/systemd/system-shutdown/\nnutslave-killpower). " +
				"Only when this boot ended in an sdf does it tell the UPS\n(over USB, no NUT driver) to cut its load after OFFDELAY and restore it\n" +
				"when the mains returns; otherwise it does nothing. If the UPS reports line\npower (the mains came back during the shutdown), " +
				"it reboots after\nPOWEROFF_WAIT unless the UPS has cut the load by then. It takes at most\n15 s plus POWEROFF_WAIT, and 85 s in all. With NUT's driver, NUT's nutshutdown does this.",
			Action: program.Action(getenv, func(c *cli.Context, cfg *flagger.Config) error {
				return flagger.Killpower(c.Context, cfg, cmp.Or(c.Args().First(), "halt"), stdout)
			}),
		},
		command.ManCommand(),
	}
	return app
}
