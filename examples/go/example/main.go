// Command example runs the whole flow against a running Secure-2FA: send a
// code, read it from the local server's outbox (GET /dev/outbox), verify it.
//
//	cd examples/go && go run ./example --credentials ../../.secure2fa/dev-credentials.json
package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"net/http"
	"os"
	"regexp"
	"strings"
	"time"

	"example.com/secure2fa"
)

var codePattern = regexp.MustCompile(`\d{4,10}`)

// codeFromOutbox returns the code in the newest outbox message sent to `to`, or "".
func codeFromOutbox(baseURL, to string) (string, error) {
	resp, err := http.Get(strings.TrimRight(baseURL, "/") + "/dev/outbox")
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	var messages []struct{ To, Body string }
	if err := json.NewDecoder(resp.Body).Decode(&messages); err != nil {
		return "", err
	}
	for _, m := range messages { // newest first
		if m.To == to {
			return codePattern.FindString(m.Body), nil
		}
	}
	return "", nil
}

func waitForCode(baseURL, to string, timeout time.Duration) (string, error) {
	for deadline := time.Now().Add(timeout); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		if code, err := codeFromOutbox(baseURL, to); code != "" || err != nil {
			return code, err
		}
	}
	return "", fmt.Errorf("no code was delivered in time")
}

func printJSON(label string, v any) {
	out, _ := json.Marshal(v)
	fmt.Println(label, string(out))
}

func run() error {
	credentials := flag.String("credentials", "", "JSON with base_url, public_key, secret_key")
	baseURL := flag.String("base-url", "", "override base_url from the credentials file")
	timeout := flag.Duration("timeout", 30*time.Second, "how long to wait for the code")
	userID := flag.String("user-id", "", "end-user id to use (default: a random one)")
	flag.Parse()
	if *credentials == "" {
		return fmt.Errorf("usage: example --credentials dev-credentials.json")
	}
	raw, err := os.ReadFile(*credentials)
	if err != nil {
		return err
	}
	var creds struct {
		BaseURL   string `json:"base_url"`
		PublicKey string `json:"public_key"`
		SecretKey string `json:"secret_key"`
	}
	if err := json.Unmarshal(raw, &creds); err != nil {
		return err
	}
	if *baseURL == "" {
		*baseURL = creds.BaseURL
	}
	if *userID == "" {
		b := make([]byte, 4)
		rand.Read(b)
		*userID = "example-user-" + hex.EncodeToString(b)
	}
	to := *userID + "@example.com"
	ctx := context.Background()
	client := secure2fa.New(*baseURL, creds.PublicKey, creds.SecretKey)

	sent, err := client.Generate(ctx, *userID, to, "", "")
	if err != nil {
		return err
	}
	printJSON("generate:", sent)
	code, err := waitForCode(*baseURL, to, *timeout)
	if err != nil {
		return err
	}
	result, err := client.Verify(ctx, *userID, code, "")
	if err != nil {
		return err
	}
	printJSON("verify:", result)
	if result.Status != "approved" {
		os.Exit(1)
	}
	return nil
}

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
