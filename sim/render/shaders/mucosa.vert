#version 330 core
// Colon wall for the endoscope's cube faces. Positions are world metres (float32 keeps ~0.1 um at 1 m).
layout(location = 0) in vec3 a_position;
layout(location = 1) in vec3 a_normal;
layout(location = 2) in vec3 a_param;   // (cos theta, sin theta, s in m): texture coordinates made per pixel
uniform mat4 u_view_proj;
out vec3 v_world;
out vec3 v_normal;
out vec3 v_param;
void main() {
    v_world = a_position;
    v_normal = a_normal;
    v_param = a_param;
    gl_Position = u_view_proj * vec4(a_position, 1.0);
}
