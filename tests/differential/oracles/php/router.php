<?php
// Differential-test oracle (issue 9): a plain PHP app under the built-in
// server reading tokens the way typical PHP APIs do, answering every request
// with JSON listing each token it extracted and where from.
//
// Usage: php -S 127.0.0.1:PORT router.php

$tokens = [];
function add(array &$tokens, string $source, $v): void
{
    if (is_array($v)) {
        foreach ($v as $x) {
            add($tokens, $source, $x);
        }
    } elseif (is_string($v)) {
        $tokens[] = ['source' => $source, 'value' => $v];
    }
}

add($tokens, 'get', $_GET['access_token'] ?? null);
add($tokens, 'post', $_POST['access_token'] ?? null);
add($tokens, 'cookie', $_COOKIE['session'] ?? null);
add($tokens, 'server_header', $_SERVER['HTTP_X_API_KEY'] ?? null);
foreach (getallheaders() as $name => $value) {
    if (strcasecmp($name, 'X-Api-Key') === 0) {
        add($tokens, 'getallheaders', $value);
    }
}

// A JSON body, as Laravel reads it when the Content-Type says JSON.
$ct = $_SERVER['CONTENT_TYPE'] ?? '';
if (str_contains($ct, '/json') || str_contains($ct, '+json')) {
    $body = json_decode(file_get_contents('php://input'), true);
    if (is_array($body)) {
        add($tokens, 'json', $body['access_token'] ?? null);
    }
}

// HTTP Basic as the SAPI decodes it (base64 without validation: bytes
// outside the alphabet and spaces are skipped).
add($tokens, 'php_auth_pw', $_SERVER['PHP_AUTH_PW'] ?? null);
add($tokens, 'php_auth_user', $_SERVER['PHP_AUTH_USER'] ?? null);

$auth = $_SERVER['HTTP_AUTHORIZATION'] ?? '';
// A hand-written reading: "Bearer <token>".
if (preg_match('/^Bearer\s+(\S+)/i', $auth, $m)) {
    add($tokens, 'bearer_regex', $m[1]);
}
// Laravel's Request::bearerToken(): the text after the last "Bearer ", cut at ",".
$position = strrpos($auth, 'Bearer ');
if ($position !== false) {
    $h = substr($auth, $position + 7);
    add($tokens, 'laravel_bearer', str_contains($h, ',') ? strstr($h, ',', true) : $h);
}

// Routing as Symfony/Laravel match it: the decoded path.
$path = rawurldecode(parse_url($_SERVER['REQUEST_URI'], PHP_URL_PATH) ?? '');
$route = ($_SERVER['REQUEST_METHOD'] === 'POST' && $path === '/oauth/revoke') ? 'revoke' : '';

header('Content-Type: application/json');
echo json_encode(['oracle' => 'php', 'route' => $route, 'path' => $path, 'tokens' => $tokens, 'errors' => []]);
