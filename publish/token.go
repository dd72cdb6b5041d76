package publish

import (
	"crypto"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
)

// Registry tokens are mcpfed's own JWTs, signed with Ed25519 (EdDSA, as the
// official registry's): issued by the token exchange, presented to publish
// and status. They name their issuer and audience so no other token mcpfed
// sees (an OIDC ID token, a static token) is ever taken for one.
const (
	tokenIssuer   = "mcpfed-registry"
	tokenAudience = "mcpfed-publish"
	// tokenLeeway absorbs clock differences between replicas sharing a key.
	tokenLeeway = 30 * time.Second
	// KeyFileName is the signing key's file in the state directory when
	// no tokenKeyFile is configured.
	KeyFileName = "publish-token-key.pem"
	maxKeyFile  = 64 << 10
)

// Errors of registry tokens.
var (
	ErrTokenInvalid = errors.New("invalid or expired registry token")
	errNoExpiry     = errors.New("token has no expiry")
)

// registryClaims are the claims of a registry token beyond the registered
// ones, named as the official registry names them.
type registryClaims struct {
	AuthMethod    string       `json:"auth_method"`
	AuthMethodSub string       `json:"auth_method_sub"`
	Permissions   []Permission `json:"permissions"`
}

// TokenResponse is the token exchange's answer, as mcp-publisher reads it.
type TokenResponse struct {
	RegistryToken string `json:"registry_token"`
	ExpiresAt     int64  `json:"expires_at"`
}

// tokens signs and verifies registry tokens.
type tokens struct {
	key    ed25519.PrivateKey
	kid    string
	signer jose.Signer
	now    func() time.Time
}

func newTokens(key ed25519.PrivateKey, now func() time.Time) (*tokens, error) {
	jwk := jose.JSONWebKey{Key: key.Public()}
	thumb, err := jwk.Thumbprint(crypto.SHA256)
	if err != nil {
		return nil, fmt.Errorf("registry token key: %w", err)
	}
	kid := base64.RawURLEncoding.EncodeToString(thumb)
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.EdDSA, Key: key},
		(&jose.SignerOptions{}).WithType("JWT").WithHeader("kid", kid))
	if err != nil {
		return nil, fmt.Errorf("registry token signer: %w", err)
	}
	return &tokens{key: key, kid: kid, signer: signer, now: now}, nil
}

// issue signs a token for subject (method:sub) with perms, valid for
// TokenLifetime.
func (t *tokens) issue(method, sub string, perms []Permission) (TokenResponse, error) {
	now := t.now()
	exp := now.Add(TokenLifetime)
	std := jwt.Claims{
		Issuer:    tokenIssuer,
		Audience:  jwt.Audience{tokenAudience},
		Subject:   method + ":" + sub,
		IssuedAt:  jwt.NewNumericDate(now),
		NotBefore: jwt.NewNumericDate(now),
		Expiry:    jwt.NewNumericDate(exp),
	}
	if perms == nil {
		perms = []Permission{}
	}
	raw, err := jwt.Signed(t.signer).Claims(std).Claims(registryClaims{method, sub, perms}).Serialize()
	if err != nil {
		return TokenResponse{}, fmt.Errorf("sign registry token: %w", err)
	}
	return TokenResponse{RegistryToken: raw, ExpiresAt: exp.Unix()}, nil
}

// verified is what a valid registry token says.
type verified struct {
	subject string
	perms   []Permission
}

// verify checks signature, issuer, audience and times; every failure wraps
// ErrTokenInvalid.
func (t *tokens) verify(raw string) (verified, error) {
	tok, err := jwt.ParseSigned(raw, []jose.SignatureAlgorithm{jose.EdDSA})
	if err != nil {
		return verified{}, fmt.Errorf("%w: %w", ErrTokenInvalid, err)
	}
	var std jwt.Claims
	var rc registryClaims
	if err := tok.Claims(t.key.Public(), &std, &rc); err != nil {
		return verified{}, fmt.Errorf("%w: %w", ErrTokenInvalid, err)
	}
	if std.Expiry == nil {
		return verified{}, fmt.Errorf("%w: %w", ErrTokenInvalid, errNoExpiry)
	}
	want := jwt.Expected{Issuer: tokenIssuer, AnyAudience: jwt.Audience{tokenAudience}, Time: t.now()}
	if err := std.ValidateWithLeeway(want, tokenLeeway); err != nil {
		return verified{}, fmt.Errorf("%w: %w", ErrTokenInvalid, err)
	}
	return verified{subject: std.Subject, perms: rc.Permissions}, nil
}

// loadKey returns the signing key: from file when set, else from the state
// directory (generated there on first use), else a key of this process
// only (tokens die with it).
func loadKey(file, stateDir string, readOnly bool) (ed25519.PrivateKey, error) {
	if file != "" {
		return readKey(file)
	}
	if stateDir == "" {
		_, key, err := ed25519.GenerateKey(rand.Reader)
		return key, err
	}
	path := filepath.Join(stateDir, KeyFileName)
	key, err := readKey(path)
	if err == nil || !errors.Is(err, os.ErrNotExist) || readOnly {
		return key, err
	}
	return createKey(path)
}

func readKey(path string) (ed25519.PrivateKey, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("registry token key: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxKeyFile+1))
	if err != nil {
		return nil, fmt.Errorf("registry token key %s: %w", path, err)
	}
	if len(data) > maxKeyFile {
		return nil, fmt.Errorf("registry token key %s: larger than %d bytes", path, maxKeyFile)
	}
	block, _ := pem.Decode(data)
	if block == nil || block.Type != "PRIVATE KEY" {
		return nil, fmt.Errorf("registry token key %s: want a PEM \"PRIVATE KEY\" block (PKCS #8; openssl genpkey -algorithm ed25519)", path)
	}
	k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("registry token key %s: %w", path, err)
	}
	key, ok := k.(ed25519.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("registry token key %s: a %T, want an Ed25519 key", path, k)
	}
	return key, nil
}

// createKey generates a key and writes it with O_EXCL: when two processes
// sharing a state directory race, the loser reads the winner's key.
func createKey(path string) (ed25519.PrivateKey, error) {
	_, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("generate registry token key: %w", err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("encode registry token key: %w", err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("registry token key: %w", err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".publish-token-key-*")
	if err != nil {
		return nil, fmt.Errorf("registry token key: %w", err)
	}
	defer os.Remove(tmp.Name())
	err = tmp.Chmod(0o600)
	if err == nil {
		err = pem.Encode(tmp, &pem.Block{Type: "PRIVATE KEY", Bytes: der})
	}
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return nil, fmt.Errorf("write registry token key: %w", err)
	}
	// Link, not rename: it fails when the key exists, so a key another
	// process wrote meanwhile is never replaced.
	if err := os.Link(tmp.Name(), path); err != nil {
		if errors.Is(err, os.ErrExist) {
			return readKey(path)
		}
		return nil, fmt.Errorf("install registry token key: %w", err)
	}
	return key, nil
}
