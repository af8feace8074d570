// Tests for the Go client: the published vectors, webhook signatures, and the
// full flow against a running server whose dev-credentials.json is named by
// SECURE2FA_CREDENTIALS.
//
//	cd examples/go && SECURE2FA_CREDENTIALS=$PWD/../../.secure2fa/dev-credentials.json go test -count=1 -v ./...
package secure2fa_test

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"testing"
	"time"

	"example.com/secure2fa"
)

type published struct {
	Vectors []struct {
		Name, Plaintext string
		SecretKey       string `json:"secret_key"`
		PublicKey       string `json:"public_key"`
		NonceHex        string `json:"nonce_hex"`
		EncryptedData   string `json:"encrypted_data"`
	}
	WebhookVectors []struct {
		Name, Secret, Body, Header string
		Timestamp                  int64
	} `json:"webhook_vectors"`
}

func load(t *testing.T) published {
	raw, err := os.ReadFile("../test-vectors.json")
	if err != nil {
		t.Fatal(err)
	}
	var p published
	if err := json.Unmarshal(raw, &p); err != nil {
		t.Fatal(err)
	}
	if len(p.Vectors) < 3 || len(p.WebhookVectors) < 3 {
		t.Fatalf("expected at least 3 payload and 3 webhook vectors, got %d and %d", len(p.Vectors), len(p.WebhookVectors))
	}
	return p
}

func TestPublishedVectorsEncryptByteForByteAndDecrypt(t *testing.T) {
	for _, v := range load(t).Vectors {
		nonce, _ := hex.DecodeString(v.NonceHex)
		got, err := secure2fa.EncryptPayload(v.SecretKey, v.PublicKey, []byte(v.Plaintext), nonce)
		if err != nil || got != v.EncryptedData {
			t.Fatalf("%s: got %q (%v), want %q", v.Name, got, err, v.EncryptedData)
		}
		back, err := secure2fa.DecryptPayload(v.SecretKey, v.PublicKey, v.EncryptedData)
		if err != nil || string(back) != v.Plaintext {
			t.Fatalf("%s: decrypted %q (%v)", v.Name, back, err)
		}
	}
}

func TestTamperedPayloadOrWrongPublicKeyIsRefused(t *testing.T) {
	v := load(t).Vectors[0]
	raw, _ := base64.StdEncoding.DecodeString(v.EncryptedData)
	raw[20] ^= 1
	if _, err := secure2fa.DecryptPayload(v.SecretKey, v.PublicKey, base64.StdEncoding.EncodeToString(raw)); err == nil {
		t.Fatal("a tampered payload decrypted")
	}
	if _, err := secure2fa.DecryptPayload(v.SecretKey, v.PublicKey+"x", v.EncryptedData); err == nil {
		t.Fatal("a payload decrypted with the wrong public key")
	}
}

func sign(secret string, ts int64, body []byte) string {
	mac := hmac.New(sha256.New, []byte(secret))
	fmt.Fprintf(mac, "%d.", ts)
	mac.Write(body)
	return fmt.Sprintf("t=%d,v1=%x", ts, mac.Sum(nil))
}

func TestPublishedWebhookVectorsVerify(t *testing.T) {
	for _, v := range load(t).WebhookVectors {
		body := []byte(v.Body)
		if got := sign(v.Secret, v.Timestamp, body); got != v.Header {
			t.Fatalf("%s: signed %q, want %q", v.Name, got, v.Header)
		}
		// The vectors are old: a tolerance covering their age accepts them, the default one does not.
		age := time.Since(time.Unix(v.Timestamp, 0)) + time.Minute
		checks := []struct {
			ok             bool
			secret, header string
			body           []byte
			tolerance      time.Duration
		}{
			{true, v.Secret, v.Header, body, age},
			{false, v.Secret, v.Header, body, 5 * time.Minute},
			{false, v.Secret, v.Header, append(body, ' '), age},
			{false, v.Secret + "x", v.Header, body, age},
		}
		for i, c := range checks {
			if secure2fa.VerifyWebhook(c.secret, c.header, c.body, c.tolerance) != c.ok {
				t.Errorf("%s: check %d should give %v", v.Name, i, c.ok)
			}
		}
	}
}

func TestFreshWebhookIsAcceptedAndTamperingRefused(t *testing.T) {
	secret, body, now := "whsec_test", []byte(`{"type":"verification.approved","user_id":"é"}`), time.Now().Unix()
	header := sign(secret, now, body)
	wrong := header[:len(header)-1] + map[bool]string{true: "1", false: "0"}[strings.HasSuffix(header, "0")]
	tol := 5 * time.Minute
	if !secure2fa.VerifyWebhook(secret, header, body, tol) {
		t.Fatal("a fresh, correctly signed webhook was refused")
	}
	if secure2fa.VerifyWebhook(secret, wrong, body, tol) {
		t.Error("a wrong signature was accepted")
	}
	if secure2fa.VerifyWebhook(secret, sign(secret, now-301, body), body, tol) {
		t.Error("a stale timestamp was accepted")
	}
	if secure2fa.VerifyWebhook(secret, header, bytes.Replace(body, []byte("approved"), []byte("failed"), 1), tol) {
		t.Error("a modified body was accepted")
	}
	if secure2fa.VerifyWebhook(secret, header[strings.Index(header, "v1="):], body, tol) {
		t.Error("a header without a timestamp was accepted")
	}
}

// Against a running server.

type creds struct {
	BaseURL   string `json:"base_url"`
	PublicKey string `json:"public_key"`
	SecretKey string `json:"secret_key"`
}

func server(t *testing.T) (creds, *secure2fa.Client) {
	path := os.Getenv("SECURE2FA_CREDENTIALS")
	if path == "" {
		t.Fatal("SECURE2FA_CREDENTIALS must name a running server's dev-credentials.json")
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var c creds
	if err := json.Unmarshal(raw, &c); err != nil {
		t.Fatal(err)
	}
	return c, secure2fa.New(c.BaseURL, c.PublicKey, c.SecretKey)
}

func newUser() string {
	b := make([]byte, 4)
	rand.Read(b)
	return "go-" + hex.EncodeToString(b)
}

func waitForCode(t *testing.T, baseURL, to string) string {
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		resp, err := http.Get(baseURL + "/dev/outbox")
		if err != nil {
			t.Fatal(err)
		}
		var messages []struct{ To, Body string }
		err = json.NewDecoder(resp.Body).Decode(&messages)
		resp.Body.Close()
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range messages { // newest first
			if m.To == to {
				return regexp.MustCompile(`\d{4,10}`).FindString(m.Body)
			}
		}
	}
	t.Fatal("no code was delivered in time")
	return ""
}

func TestExampleGetsApproved(t *testing.T) {
	server(t)
	goBin := filepath.Join(runtime.GOROOT(), "bin", "go")
	out, err := exec.Command(goBin, "run", "./example", "--credentials", os.Getenv("SECURE2FA_CREDENTIALS")).CombinedOutput()
	if err != nil || !strings.Contains(string(out), `"status":"approved"`) {
		t.Fatalf("example: %v\n%s", err, out)
	}
}

func TestWrongCodeThenRightCode(t *testing.T) {
	c, client := server(t)
	ctx, user := context.Background(), newUser()
	to := user + "@example.com"
	if sent, err := client.Generate(ctx, user, to, "", ""); err != nil || sent.Status != "pending" {
		t.Fatalf("generate: %+v %v", sent, err)
	}
	code := waitForCode(t, c.BaseURL, to)
	wrong := []byte(code)
	for i := range wrong {
		wrong[i] = '0' + (wrong[i]-'0'+1)%10
	}
	first, err := client.Verify(ctx, user, string(wrong), "")
	if err != nil || first.Status != "invalid_code" || first.AttemptsLeft == nil || *first.AttemptsLeft != 4 {
		t.Fatalf("wrong code: %+v %v", first, err)
	}
	if res, err := client.Verify(ctx, user, code, ""); err != nil || res.Status != "approved" {
		t.Fatalf("right code: %+v %v", res, err)
	}
}

func TestTemplateRequestAndRateLimit(t *testing.T) {
	_, client := server(t)
	ctx, user := context.Background(), newUser()
	to := user + "@example.com"
	message, err := client.GenerateTemplate(ctx, user, to, "fr")
	if err != nil || message.Code == "" || !strings.Contains(message.Body, message.Code) {
		t.Fatalf("template: %+v %v", message, err)
	}
	if res, err := client.Verify(ctx, user, message.Code, ""); err != nil || res.Status != "approved" {
		t.Fatalf("verify: %+v %v", res, err)
	}
	if _, err := client.Generate(ctx, user, to, "", ""); err != nil {
		t.Fatal(err)
	}
	_, err = client.Generate(ctx, user, to, "", "")
	var apiErr *secure2fa.Error
	if !errors.As(err, &apiErr) || apiErr.Status != 429 || apiErr.RetryAfter <= 0 {
		t.Fatalf("second generate: %v", err)
	}
}

func TestCodeIsBoundToDevice(t *testing.T) {
	c, client := server(t)
	ctx, user := context.Background(), newUser()
	to := user + "@example.com"
	if _, err := client.Generate(ctx, user, to, "en", "iphone-15"); err != nil {
		t.Fatal(err)
	}
	code := waitForCode(t, c.BaseURL, to)
	if res, err := client.Verify(ctx, user, code, "pixel-8"); err != nil || res.Status != "device_mismatch" {
		t.Fatalf("other device: %+v %v", res, err)
	}
	if res, err := client.Verify(ctx, user, code, "iphone-15"); err != nil || res.Status != "approved" {
		t.Fatalf("same device: %+v %v", res, err)
	}
}

func TestWrongSecretKeyIsRefused(t *testing.T) {
	c, _ := server(t)
	key := make([]byte, 32)
	rand.Read(key)
	bad := secure2fa.New(c.BaseURL, c.PublicKey, base64.StdEncoding.EncodeToString(key))
	_, err := bad.Verify(context.Background(), "someone", "123456", "")
	var apiErr *secure2fa.Error
	if !errors.As(err, &apiErr) || apiErr.Status != 401 || apiErr.Code != "unauthenticated" {
		t.Fatalf("wrong key: %v", err)
	}
}
