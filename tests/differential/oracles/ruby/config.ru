# Differential-test oracle (issue 9): a Rack 2 app reading tokens the way
# typical Rack/Rails APIs do, answering every request with JSON listing each
# token it extracted and where from.
#
# Usage: ruby server.rb PORT   (Debian's ruby-rack and ruby-webrick)
require 'json'
require 'jwt'
require 'rack'

# Rails' ActionController::HttpAuthentication::Token#token_and_options,
# written out: "Token" or "Bearer", then params split on , ; or tab; a first
# param without "=" is the token.
def rails_token(auth)
  return nil unless auth =~ /\A(Token|Bearer)\s+/
  params = auth.sub(/\A(Token|Bearer)\s+/, '').split(/(?:,|;|\t)/).map(&:strip)
  params[0] = "token=#{params[0]}" unless params.empty? || params[0].include?('=')
  params.each do |p|
    k, v = p.split(/=(.+)?/)
    return v.to_s.gsub(/\A"|"\z/, '').gsub('\\"', '"') if k == 'token'
  end
  nil
end

# Rack's own signed session cookie (Rack::Session::Cookie under the key
# rack.session; Rack 2's default coder: base64 of Marshal, then "--" and an
# HMAC-SHA1): an application keeping its user's access token in the
# session reads it back on every request (source "rack_session"). Read
# only when the cookie is sent, so that no other answer sets one.
RACK_SESSION_SECRET = 'differential-oracle-rack-session-secret'
use Rack::Session::Cookie, key: 'rack.session', secret: RACK_SESSION_SECRET

App = lambda do |env|
  req = Rack::Request.new(env)
  tokens = []
  errors = []
  add = lambda do |source, v|
    case v
    when String then tokens << { source: source, value: v }
    when Array then v.each { |x| add.call(source, x) }
    when Hash then v.each_value { |x| add.call(source, x) }
    end
  end
  begin
    add.call('params', req.params['access_token']) # query (split on & and ;) and form bodies
  rescue StandardError => e
    errors << e.message
  end
  begin
    add.call('cookie', req.cookies['session'])
  rescue StandardError => e
    errors << e.message
  end
  add.call('header', env['HTTP_X_API_KEY'])
  begin
    add.call('rack_session', env['rack.session']['access_token']) if req.cookies.key?('rack.session')
  rescue StandardError => e
    errors << e.message
  end
  # A JSON body, as Rails' params parser reads it.
  if req.media_type == 'application/json'
    begin
      body = JSON.parse(req.body.read)
      add.call('json', body['access_token']) if body.is_a?(Hash)
    rescue StandardError => e
      errors << e.message
    end
  end
  auth = env['HTTP_AUTHORIZATION'].to_s
  if (m = auth.match(/\ABearer\s+(.+)\z/i))
    add.call('bearer', m[1])
  end
  add.call('rails_token', rails_token(auth))
  # ruby-jwt (Debian's ruby-jwt) on each token read: JWT.decode splits the
  # token with String#split('.'), which drops trailing empty segments, so
  # "T." and "T.." decode (and verify) as T; the token it decoded is
  # reported as its segments joined.
  tokens.map { |tk| tk[:value] }.uniq.each do |v|
    next unless v.count('.') >= 2
    begin
      JWT.decode(v, nil, false)
      add.call('ruby_jwt', v.split('.').join('.'))
    rescue StandardError
      nil
    end
  end
  route = req.post? && req.path_info == '/oauth/revoke' ? 'revoke' : ''
  body = JSON.generate(oracle: 'ruby', route: route, path: req.path_info, tokens: tokens, errors: errors)
  [200, { 'Content-Type' => 'application/json' }, [body]]
end

run App
