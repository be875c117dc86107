package main

import (
	"context"
	"fmt"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/nutslave/nutslave/internal/command"
	"github.com/nutslave/nutslave/usbtool"
)

func shutdownCommand() *cli.Command {
	return &cli.Command{
		Name:      "shutdown",
		Usage:     "tell the UPS to cut its load after a delay and restore it when the mains returns (NUT's shutdown.return)",
		UsageText: "upsusb shutdown [--device VID:PID] [--offdelay 20s] [--ondelay 30s] (--dry-run | --yes)",
		Description: "This cuts the power of everything plugged into the UPS, this machine included: it is what NUT's " +
			"'upsdrvctl shutdown' does at the very end of a shutdown on battery, so that the machines start again " +
			"when the mains returns. Without --yes it refuses; --dry-run reads the UPS and prints the commands it " +
			"would send, sending nothing.\n\n" +
			"A HID Power Device gets DelayBeforeStartup (the ondelay) and then DelayBeforeShutdown (the offdelay) " +
			"written with SET_REPORT, on the paths NUT's subdriver for its vendor uses (APC, CyberPower, Eaton/MGE, " +
			"Tripp Lite, Belkin, Liebert, PowerCOM). A Megatec/Q1 unit of the cypress kind gets C and then " +
			"S<n>R<m>. The krauler kind (0001:0000) has no shutdown command at all, and upsusb says so. The " +
			"UPS's status (OL: on line, OB: on battery) is printed first. NUT advises testing this once, by hand, " +
			"with the mains present: the UPS should then power-cycle its load.\n\n" +
			"For a HID device the ondelay must be longer than the offdelay. Left out, the delays are NUT's defaults for the " +
			"device: 20s and 30s (CyberPower 60s and 120s; Megatec 30s and 180s). Some devices count in " +
			"minutes or tenths of a minute: a HID field in minutes gets the delay rounded up, never shorter; " +
			"a Megatec command gets it truncated, as NUT truncates it. A warning says so.",
		Flags: []cli.Flag{deviceFlag, serialFlag, timeoutFlg,
			&cli.DurationFlag{Name: "offdelay", Usage: "cut the load `DURATION` after the command", DefaultText: "the device's, see above"},
			&cli.DurationFlag{Name: "ondelay", Usage: "restore the load once the mains is back and `DURATION` has passed", DefaultText: "the device's"},
			&cli.BoolFlag{Name: "dry-run", Aliases: []string{"n"}, Usage: "read the UPS and print the commands, sending none"},
			&cli.BoolFlag{Name: "yes", Usage: "really send them: the UPS will cut the power of everything plugged into it"},
		},
		Action: cmdShutdown,
	}
}

func cmdShutdown(c *cli.Context) error {
	sel, err := selector(c)
	if err != nil {
		return err
	}
	dry := c.Bool("dry-run")
	if !dry && !c.Bool("yes") {
		return &command.UsageError{Msg: "shutdown cuts the power of everything plugged into the UPS, this machine included; refusing without --yes",
			Hint: "see what would be sent with 'upsusb shutdown --dry-run'; then add --yes"}
	}
	opt := usbtool.ShutdownOptions{OffDelay: c.Duration("offdelay"), OnDelay: c.Duration("ondelay"), DryRun: dry}
	return withBackend(c, func(ctx context.Context, b usbtool.Backend) error {
		res, err := usbtool.Shutdown(ctx, b, sel, opt)
		w := c.App.Writer
		if res.Protocol != "" {
			status := res.Status
			if status == "" {
				status = "unknown"
			}
			fmt.Fprintf(w, "protocol: %s\nstatus: %s\n", res.Protocol, status)
		}
		for _, warn := range res.Warnings {
			fmt.Fprintf(c.App.ErrWriter, "upsusb: warning: %s\n", warn)
		}
		if err != nil {
			return err
		}
		if dry {
			fmt.Fprintln(w, "dry run, nothing sent; would send:")
		} else {
			fmt.Fprintln(w, "sent:")
		}
		for _, s := range res.Steps {
			fmt.Fprintf(w, "  %s\n", s)
		}
		switch {
		case res.OffDelay > 0 && res.OnDelay > 0:
			fmt.Fprintf(w, "the UPS cuts its load in %s and restores it %s after the mains returns\n", secs(res.OffDelay), secs(res.OnDelay))
		case res.OffDelay > 0:
			fmt.Fprintf(w, "the UPS cuts its load in %s\n", secs(res.OffDelay))
		}
		return nil
	})
}

func secs(d time.Duration) string { return fmt.Sprintf("%ds", int64(d/time.Second)) }
