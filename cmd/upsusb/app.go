package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os/signal"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/nutslave/nutslave/internal/command"
	"github.com/nutslave/nutslave/usbtool"
)

// version is set with -ldflags "-X main.version=...".
var version string

// testOnlyBackend replaces the libusb backend in tests.
var testOnlyBackend func() (usbtool.Backend, error)

func openBackend() (usbtool.Backend, error) {
	if testOnlyBackend != nil {
		return testOnlyBackend()
	}
	return usbtool.OpenBackend()
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	ctx, stop := signal.NotifyContext(ctx, syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	return report(stderr, newApp(stdout, stderr).RunContext(ctx, args))
}

func buildVersion() string { return command.Version(version) }

var (
	deviceFlag = &cli.StringFlag{Name: "device", Aliases: []string{"d"}, Usage: "select the UPS by `VID:PID` (hex), e.g. 0001:0000; default: the one UPS-like device attached (with several, name one)"}
	serialFlag = &cli.StringFlag{Name: "serial", Usage: "select the UPS by USB serial number `SERIAL`"}
	timeoutFlg = &cli.DurationFlag{Name: "timeout", Value: 30 * time.Second, Usage: "give up after `DURATION`"}
)

func onUsageError(_ *cli.Context, err error, _ bool) error {
	return &command.UsageError{Msg: err.Error(), Hint: "run 'upsusb --help' for usage"}
}

func newApp(stdout, stderr io.Writer) *cli.App {
	app := &cli.App{
		Name:      "upsusb",
		Usage:     "list, dump, read and shut down USB UPSes directly (HID Power Device Class or Megatec/Q1)",
		Version:   buildVersion(),
		Writer:    stdout,
		ErrWriter: stderr,
		Description: "upsusb talks to a USB UPS without NUT: it lists UPS-like devices, dumps a HID report descriptor, " +
			"reads the UPS once, printing NUT variable names as upsc does, and tells it to cut its load and restore it " +
			"when the mains returns (shutdown). It needs access to /dev/bus/usb " +
			"(root, or a udev rule) and the device must be free: while NUT's driver holds it, ask upsd instead " +
			"(SOURCE=nut://ups@localhost in upsflags.conf).\n\n" +
			"Exit status: 0 success, 1 runtime failure, 2 usage error, 4 permission denied.",
		HideHelpCommand: true,
		ExitErrHandler:  func(*cli.Context, error) {},
		OnUsageError:    onUsageError,
		CommandNotFound: func(c *cli.Context, name string) {},
		Commands: []*cli.Command{
			{
				Name:   "list",
				Usage:  "list UPS-like USB devices",
				Flags:  []cli.Flag{&cli.BoolFlag{Name: "all", Usage: "list every USB device, not only UPS-like ones"}, timeoutFlg},
				Action: cmdList,
			},
			{
				Name:   "dump",
				Usage:  "print a UPS's HID report descriptor (hex) and its parsed item tree with usage paths",
				Flags:  []cli.Flag{deviceFlag, serialFlag, timeoutFlg},
				Action: cmdDump,
			},
			{
				Name:  "read",
				Usage: "read a UPS once and print NUT variables (name: value)",
				Flags: []cli.Flag{deviceFlag, serialFlag, timeoutFlg,
					&cli.BoolFlag{Name: "json", Usage: "print a JSON object instead"},
					&cli.Float64Flag{Name: "battery-voltage-high", Usage: "Megatec: `VOLTS` of a full battery (0: 130/120 of nominal)"},
					&cli.Float64Flag{Name: "battery-voltage-low", Usage: "Megatec: `VOLTS` of an empty battery (0: 104/120 of nominal)"},
					&cli.BoolFlag{Name: "onlinedischarge-onbattery", Usage: "HID: report OB when the UPS says on line and discharging (CyberPower UT)"},
				},
				Action: cmdRead,
			},
			shutdownCommand(),
			command.ManCommand(),
		},
		Action: func(c *cli.Context) error {
			if c.NArg() > 0 {
				return &command.UsageError{Msg: fmt.Sprintf("unknown command %q", c.Args().First()), Hint: "commands are list, dump, read and shutdown"}
			}
			return cli.ShowAppHelp(c)
		},
	}
	for _, cmd := range app.Commands {
		cmd.OnUsageError = onUsageError
	}
	return app
}

// report prints err (if any) with its hint and returns the exit code.
func report(stderr io.Writer, err error) int { return command.Report("upsusb", stderr, err, hint) }

// hint explains the errors of the USB backend.
func hint(err error) string {
	switch {
	case errors.Is(err, fs.ErrPermission):
		return "run as root, or add a udev rule giving your group access to the UPS (/dev/bus/usb)"
	case errors.Is(err, usbtool.ErrDeviceBusy):
		return "NUT's driver (usbhid-ups, blazer_usb, nutdrv_qx) probably holds the UPS; read it through upsd instead: SOURCE=nut://ups@localhost in upsflags.conf"
	case errors.Is(err, usbtool.ErrAmbiguous):
		return "select the UPS with --device VID:PID, and --serial for two units of one model ('upsusb list' shows them)"
	case errors.Is(err, usbtool.ErrNoDevice):
		return "check the cable and 'upsusb list'; select the UPS with --device VID:PID"
	case errors.Is(err, usbtool.ErrNoBackend):
		return "rebuild upsusb with CGO_ENABLED=1 and libusb-1.0-0-dev installed"
	case errors.Is(err, usbtool.ErrNoShutdownCommand):
		return "the UPS will run until its battery is empty; shut this machine down early enough, and make sure its BIOS powers it on when the mains returns"
	case errors.Is(err, usbtool.ErrUnsupported):
		return "'upsusb dump' shows what the device declares"
	}
	return ""
}

func selector(c *cli.Context) (usbtool.Selector, error) {
	var sel usbtool.Selector
	if s := c.String("device"); s != "" {
		var err error
		if sel, err = usbtool.ParseVIDPID(s); err != nil {
			return sel, &command.UsageError{Msg: err.Error(), Hint: "'upsusb list' shows the VID:PID of each UPS"}
		}
	}
	sel.Serial = c.String("serial")
	if c.NArg() > 0 {
		return sel, &command.UsageError{Msg: fmt.Sprintf("unexpected argument %q", c.Args().First()), Hint: "select the UPS with --device VID:PID"}
	}
	return sel, nil
}

// withBackend runs f with a backend, closing it afterwards.
func withBackend(c *cli.Context, f func(ctx context.Context, b usbtool.Backend) error) (err error) {
	ctx, cancel := context.WithTimeout(c.Context, c.Duration("timeout"))
	defer cancel()
	b, err := openBackend()
	if err != nil {
		return err
	}
	defer func() {
		if cerr := b.Close(); cerr != nil && err == nil {
			err = cerr
		}
	}()
	return f(ctx, b)
}

func cmdList(c *cli.Context) error {
	if c.NArg() > 0 {
		return &command.UsageError{Msg: fmt.Sprintf("unexpected argument %q", c.Args().First()), Hint: "usage: upsusb list [--all]"}
	}
	return withBackend(c, func(ctx context.Context, b usbtool.Backend) error {
		devs, err := b.List(ctx)
		if err != nil {
			return err
		}
		w := c.App.Writer
		n := 0
		for _, d := range devs {
			p := usbtool.GuessProtocol(d.VID, d.PID)
			if p == usbtool.ProtocolUnknown && !c.Bool("all") {
				continue
			}
			if n == 0 {
				fmt.Fprintf(w, "%-9s  %-7s  %-16s  %-24s  %-24s  %-16s  %s\n", "VID:PID", "BUS/ADR", "PROTOCOL", "MANUFACTURER", "PRODUCT", "SERIAL", "")
			}
			n++
			proto := string(p)
			if proto == "" {
				proto = "-"
			}
			fmt.Fprintf(w, "%-9s  %03d/%03d  %-16s  %-24s  %-24s  %s\n", d.ID(), d.Bus, d.Address, proto, dash(d.Manufacturer), dash(d.Product), dash(d.Serial))
		}
		if n == 0 {
			if c.Bool("all") {
				fmt.Fprintln(w, "no USB devices found")
			} else {
				fmt.Fprintf(w, "no UPS found among %d USB device(s)\n", len(devs))
			}
		}
		return nil
	})
}

func dash(s string) string {
	if s = strings.TrimSpace(s); s == "" {
		return "-"
	}
	return s
}

func cmdDump(c *cli.Context) error {
	sel, err := selector(c)
	if err != nil {
		return err
	}
	return withBackend(c, func(ctx context.Context, b usbtool.Backend) error {
		info, err := usbtool.Find(ctx, b, sel)
		if err != nil {
			return err
		}
		t, err := b.Open(ctx, info)
		if err != nil {
			return fmt.Errorf("open %s: %w", info.ID(), err)
		}
		defer t.Close()
		raw, err := usbtool.ReadReportDescriptor(ctx, t)
		if err != nil {
			return fmt.Errorf("%s: %w", info.ID(), err)
		}
		w := c.App.Writer
		fmt.Fprintf(w, "device: %s %s %s (bus %03d address %03d)\n", info.ID(), dash(t.Info().Manufacturer), dash(t.Info().Product), info.Bus, info.Address)
		fmt.Fprintf(w, "report descriptor: %d bytes\n", len(raw))
		for i := 0; i < len(raw); i += 16 {
			fmt.Fprintf(w, "  %04x: % x\n", i, raw[i:min(i+16, len(raw))])
		}
		d, err := usbtool.ParseDescriptor(raw)
		if err != nil {
			return fmt.Errorf("%s: parse report descriptor: %w", info.ID(), err)
		}
		for _, fix := range d.Fix(info.VID, info.PID) {
			fmt.Fprintf(w, "quirk: %s\n", fix)
		}
		fmt.Fprintln(w, "items:")
		fmt.Fprint(w, d.Dump(info.VID))
		return nil
	})
}

func cmdRead(c *cli.Context) error {
	sel, err := selector(c)
	if err != nil {
		return err
	}
	opt := usbtool.Options{
		HID: usbtool.HIDOptions{OnlineDischargeOnBattery: c.Bool("onlinedischarge-onbattery")},
		Megatec: usbtool.MegatecOptions{
			BatteryVoltageHigh: c.Float64("battery-voltage-high"),
			BatteryVoltageLow:  c.Float64("battery-voltage-low"),
		},
	}
	return withBackend(c, func(ctx context.Context, b usbtool.Backend) error {
		vars, err := usbtool.Read(ctx, b, sel, opt)
		if err != nil {
			return err
		}
		w := c.App.Writer
		if c.Bool("json") {
			enc := json.NewEncoder(w)
			enc.SetIndent("", "  ")
			return enc.Encode(vars)
		}
		keys := make([]string, 0, len(vars))
		for k := range vars {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			fmt.Fprintf(w, "%s: %s\n", k, vars[k])
		}
		return nil
	})
}
