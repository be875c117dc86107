package usbtool

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Megatec delay ranges (NUT's nutdrv_qx blazer_r_offdelay and
// blazer_r_ondelay): the offdelay is .2 to .9 tenths of a minute or 01 to
// 10 minutes, the ondelay 0 to 9999 minutes.
const (
	megatecMinOff = 12 * time.Second
	megatecMaxOff = 600 * time.Second
	megatecMaxOn  = 9999 * time.Minute
)

// megatecTries is how often a command is sent before giving up (NUT's
// MAXTRIES).
const megatecTries = 3

// MegatecShutdownCommand returns the Megatec shutdown.return command for
// the delays, formatted as NUT's nutdrv_qx does: S<n>R<mmmm>, n being
// .2 to .9 (tenths of a minute, offdelay/6 s) below 60 s and 01 to 10
// (minutes) from 60 s, mmmm the ondelay in whole minutes; S<n> alone
// when the ondelay is under a minute (the UPS restores its load as soon
// as the mains is back). Delays are truncated to what the command holds
// (6 s below a minute, 60 s above; ondelay to 60 s), as NUT truncates
// them; off is the offdelay and on the ondelay the command really
// carries. Delays out of range (offdelay 12 s to 600 s, ondelay up to
// 9999 minutes) are an error.
func MegatecShutdownCommand(offDelay, onDelay time.Duration) (cmd string, off, on time.Duration, err error) {
	if offDelay < megatecMinOff || offDelay > megatecMaxOff {
		return "", 0, 0, fmt.Errorf("offdelay %s is out of the Megatec range: the S command takes 12s to 600s (10 minutes)", offDelay)
	}
	if onDelay < 0 || onDelay > megatecMaxOn {
		return "", 0, 0, fmt.Errorf("ondelay %s is out of the Megatec range: the R part takes 0 to 9999 minutes (599940s)", onDelay)
	}
	offS, onM := int64(offDelay/time.Second), int64(onDelay/time.Minute)
	var n string
	if offS < 60 {
		n = fmt.Sprintf(".%d", offS/6)
		off = time.Duration(offS/6*6) * time.Second
	} else {
		n = fmt.Sprintf("%02d", offS/60)
		off = time.Duration(offS/60) * time.Minute
	}
	on = time.Duration(onM) * time.Minute
	if onM <= 0 {
		return "S" + n, off, on, nil
	}
	return fmt.Sprintf("S%sR%04d", n, onM), off, on, nil
}

// shutdownMegatec reads Q1 for the status, then, on a cypress unit, sends
// C (cancel any pending shutdown) and the S command, as NUT's nutdrv_qx
// upsdrv_shutdown does. A krauler unit cannot be told.
func shutdownMegatec(ctx context.Context, t Transport, style MegatecStyle, opt ShutdownOptions) (ShutdownResult, error) {
	p := ProtocolCypress
	if style == Krauler {
		p = ProtocolKrauler
	}
	res := ShutdownResult{Protocol: p}
	offD, onD, err := delays(p, t.Info().VID, opt)
	if err != nil {
		return res, err
	}
	if r, err := MegatecCommand(ctx, t, style, "Q1", 0); err == nil {
		if q, err := ParseQ1(r); err == nil {
			res.Status = MegatecVars(q, nil, nil, MegatecOptions{})["ups.status"]
			res.OnLine = onLine(res.Status)
		} else {
			res.warnf("status unread: %v", err)
		}
	} else if isFatal(err) {
		return res, err
	} else {
		res.warnf("status unread: %v", err)
	}
	if style == Krauler {
		return res, fmt.Errorf("%w: the krauler protocol of %s answers each command as a USB string descriptor and has none for S (shutdown), "+
			"as NUT's nutdrv_qx says (krauler does not support shutdown); the UPS keeps its load on until its battery is empty",
			ErrNoShutdownCommand, t.Info().ID())
	}
	cmd, off, on, err := MegatecShutdownCommand(offD, onD)
	if err != nil {
		return res, err
	}
	res.OffDelay, res.OnDelay = off, on
	if off != offD {
		res.warnf("offdelay %s truncated to %s: the S command counts tenths of a minute below 60s and minutes above", seconds(offD), seconds(off))
	}
	switch {
	case on == 0:
		res.warnf("ondelay %s is under a minute, the R part's unit: the command is %s alone, and the UPS restores its load as soon as the mains is back", seconds(onD), cmd)
	case on != onD:
		res.warnf("ondelay %s truncated to %s: the R part counts whole minutes", seconds(onD), seconds(on))
	}
	if opt.DryRun {
		res.Steps = []string{"megatec C", "megatec " + cmd}
		return res, nil
	}
	if err := megatecInstant(ctx, t, "C"); err != nil {
		if isFatal(err) {
			return res, err
		}
		// NUT carries on: "No shutdown pending".
		res.warnf("C (cancel a pending shutdown) not acknowledged: %v", err)
	} else {
		res.Steps = append(res.Steps, "megatec C")
	}
	if err := megatecInstant(ctx, t, cmd); err != nil {
		return res, err
	}
	res.Steps = append(res.Steps, "megatec "+cmd)
	return res, nil
}

// megatecInstant sends an instant command over the cypress carrier up to
// three times. Success is no reply or "ACK"; a unit that echoes the
// command (or answers "NAK") refused it.
func megatecInstant(ctx context.Context, t Transport, cmd string) error {
	var err error
	for try := 0; try < megatecTries; try++ {
		if err = cypressSend(ctx, t, cmd); err != nil {
			if isFatal(err) {
				return err
			}
			continue
		}
		var reply string
		reply, err = cypressRead(ctx, t, cmd)
		if errors.Is(err, ErrTimeout) {
			return nil // no reply: accepted
		}
		if err != nil {
			if isFatal(err) {
				return err
			}
			continue
		}
		switch r := trimReply(reply); r {
		case "ACK":
			return nil
		case cmd:
			err = fmt.Errorf("megatec %s: the UPS echoed the command back, which means it does not know it", cmd)
		default:
			err = fmt.Errorf("megatec %s: the UPS answered %q, not ACK", cmd, r)
		}
	}
	return fmt.Errorf("%w (sent %d times)", err, megatecTries)
}
