// Package secure2fa is a minimal Secure-2FA client (Go standard library only).
//
//	otp := secure2fa.New(baseURL, publicKey, secretKey)
//	sent, err := otp.Generate(ctx, "user-42", "ann@example.com", "en", "") // code is emailed
//	res, err := otp.Verify(ctx, "user-42", "493817", "")                  // res.Status == "approved"
//	var apiErr *secure2fa.Error // HTTP errors: Status, Code, Message, RetryAfter (on 429)
//	if errors.As(err, &apiErr) && apiErr.Status == 429 { /* retry after apiErr.RetryAfter seconds */ }
//	ok := secure2fa.VerifyWebhook(secret, r.Header.Get("Secure2FA-Signature"), body, 5*time.Minute)
//
// Payload: base64(nonce[12] || AES-256-GCM(secret_key, nonce, JSON, aad = public_key) || tag[16]).
package secure2fa

import (
	"bytes"
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
)

const nonceLen = 12

func gcm(secretKeyB64 string) (cipher.AEAD, error) {
	key, err := base64.StdEncoding.DecodeString(secretKeyB64)
	if err != nil {
		return nil, err
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(block)
}

// EncryptPayload encrypts a JSON plaintext. A nil nonce means a random one (a fixed one is for test vectors only).
func EncryptPayload(secretKeyB64, publicKey string, plaintext, nonce []byte) (string, error) {
	aead, err := gcm(secretKeyB64)
	if err != nil {
		return "", err
	}
	if nonce == nil {
		nonce = make([]byte, nonceLen)
		if _, err := rand.Read(nonce); err != nil {
			return "", err
		}
	}
	sealed := aead.Seal(append([]byte{}, nonce...), nonce, plaintext, []byte(publicKey))
	return base64.StdEncoding.EncodeToString(sealed), nil
}

// DecryptPayload decrypts a response payload (the template_request answer); it fails if it was tampered with.
func DecryptPayload(secretKeyB64, publicKey, encryptedData string) ([]byte, error) {
	raw, err := base64.StdEncoding.DecodeString(encryptedData)
	if err != nil {
		return nil, err
	}
	aead, err := gcm(secretKeyB64)
	if err != nil {
		return nil, err
	}
	if len(raw) < nonceLen+aead.Overhead() {
		return nil, errors.New("secure2fa: encrypted_data is too short")
	}
	return aead.Open(nil, raw[:nonceLen], raw[nonceLen:], []byte(publicKey))
}

// VerifyWebhook checks a "Secure2FA-Signature: t=...,v1=..." header on a webhook's raw body.
func VerifyWebhook(signingSecret, signatureHeader string, body []byte, tolerance time.Duration) bool {
	parts := map[string]string{}
	for _, part := range strings.Split(signatureHeader, ",") {
		if k, v, ok := strings.Cut(part, "="); ok {
			parts[k] = v
		}
	}
	timestamp, err := strconv.ParseInt(parts["t"], 10, 64)
	if err != nil || time.Since(time.Unix(timestamp, 0)).Abs() > tolerance {
		return false
	}
	mac := hmac.New(sha256.New, []byte(signingSecret))
	fmt.Fprintf(mac, "%d.", timestamp)
	mac.Write(body)
	return hmac.Equal([]byte(hex.EncodeToString(mac.Sum(nil))), []byte(parts["v1"]))
}

// Error is an HTTP error answer: {"error": {"code", "message"}}, with Retry-After (seconds) on 429.
type Error struct {
	Status     int
	Code       string
	Message    string
	RetryAfter int
}

func (e *Error) Error() string { return fmt.Sprintf("HTTP %d: %s: %s", e.Status, e.Code, e.Message) }

type Generated struct {
	Status         string `json:"status"`
	VerificationID string `json:"verification_id"`
	Channel        string `json:"channel"`
	ExpiresAt      int64  `json:"expires_at"`
}

type Message struct {
	Code           string `json:"code"`
	Subject        string `json:"subject"`
	Body           string `json:"body"`
	Lang           string `json:"lang"`
	VerificationID string `json:"verification_id"`
	ExpiresAt      int64  `json:"expires_at"`
}

type Verified struct {
	Status         string `json:"status"` // approved, invalid_code, expired, max_attempts_reached, device_mismatch, not_found
	VerificationID string `json:"verification_id,omitempty"`
	AttemptsLeft   *int   `json:"attempts_left,omitempty"`
}

type payload struct {
	UserID          string `json:"user_id"`
	To              string `json:"to,omitempty"`
	Code            string `json:"code,omitempty"`
	Lang            string `json:"lang,omitempty"`
	Device          string `json:"device,omitempty"`
	TemplateRequest bool   `json:"template_request,omitempty"`
	IAT             int64  `json:"iat"`
}

type Client struct {
	BaseURL, PublicKey, SecretKey string
	HTTP                          *http.Client
}

func New(baseURL, publicKey, secretKey string) *Client {
	return &Client{strings.TrimRight(baseURL, "/"), publicKey, secretKey, &http.Client{Timeout: 10 * time.Second}}
}

func (c *Client) post(ctx context.Context, path string, p payload, out any) error {
	p.IAT = time.Now().Unix()
	var plaintext bytes.Buffer
	enc := json.NewEncoder(&plaintext)
	enc.SetEscapeHTML(false) // the same bytes as the other clients
	if err := enc.Encode(p); err != nil {
		return err
	}
	data, err := EncryptPayload(c.SecretKey, c.PublicKey, bytes.TrimSuffix(plaintext.Bytes(), []byte("\n")), nil)
	if err != nil {
		return err
	}
	body, _ := json.Marshal(map[string]string{"public_key": c.PublicKey, "encrypted_data": data})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.BaseURL+path, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.HTTP.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	answer, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode >= 300 {
		var e struct {
			Error struct{ Code, Message string }
		}
		_ = json.Unmarshal(answer, &e) // a body that is not JSON still gives the status
		retry, _ := strconv.Atoi(resp.Header.Get("Retry-After"))
		return &Error{resp.StatusCode, e.Error.Code, e.Error.Message, retry}
	}
	return json.Unmarshal(answer, out)
}

func call[T any](ctx context.Context, c *Client, path string, p payload) (*T, error) {
	var out T
	if err := c.post(ctx, path, p, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// Generate sends a code to `to` (lang and device may be empty).
func (c *Client) Generate(ctx context.Context, userID, to, lang, device string) (*Generated, error) {
	return call[Generated](ctx, c, "/otp/generate", payload{UserID: userID, To: to, Lang: lang, Device: device})
}

// GenerateTemplate gets the rendered message and code back instead of having it sent.
func (c *Client) GenerateTemplate(ctx context.Context, userID, to, lang string) (*Message, error) {
	var answer struct {
		EncryptedData string `json:"encrypted_data"`
	}
	p := payload{UserID: userID, To: to, Lang: lang, TemplateRequest: true}
	if err := c.post(ctx, "/otp/generate", p, &answer); err != nil {
		return nil, err
	}
	plaintext, err := DecryptPayload(c.SecretKey, c.PublicKey, answer.EncryptedData)
	if err != nil {
		return nil, err
	}
	var out Message
	if err := json.Unmarshal(plaintext, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// Verify checks a code (device may be empty).
func (c *Client) Verify(ctx context.Context, userID, code, device string) (*Verified, error) {
	return call[Verified](ctx, c, "/otp/verify", payload{UserID: userID, Code: code, Device: device})
}
