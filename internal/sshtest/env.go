package sshtest

import "fmt"

// Env is what [StartEnv] needs from a test environment;
// *testscript.Env satisfies it.
type Env interface {
	Setenv(key, value string)
	Defer(func())
}

// StartEnv starts a server with [Start], registers its Stop with e.Defer
// and exports where to reach it:
//
//	SFTP_ADDR         127.0.0.1:port
//	SFTP_HOST         127.0.0.1
//	SFTP_PORT         port
//	SFTP_USER         the accepted account
//	SFTP_KNOWN_HOSTS  path of the known_hosts file
//	SFTP_IDENTITY     path of the accepted private key
//
// It is meant for a testscript Setup function:
//
//	Setup: func(e *testscript.Env) error {
//		_, err := sshtest.StartEnv(e, filepath.Join(e.WorkDir, "ssh"), sshtest.Options{})
//		return err
//	},
func StartEnv(e Env, dir string, opts Options) (*Server, error) {
	s, err := Start(dir, opts)
	if err != nil {
		return nil, fmt.Errorf("start test ssh server: %w", err)
	}
	e.Defer(s.Stop)
	for k, v := range map[string]string{
		"SFTP_ADDR":        s.Addr,
		"SFTP_HOST":        s.Host(),
		"SFTP_PORT":        s.Port(),
		"SFTP_USER":        s.User,
		"SFTP_KNOWN_HOSTS": s.KnownHosts,
		"SFTP_IDENTITY":    s.ClientKey,
	} {
		e.Setenv(k, v)
	}
	return s, nil
}
